// Admin users: create, enable or disable, change role, grant credits (with the ledger),
// reset a password (the new one is shown once).
import { api, errorTitle, showIssues } from "../lib/api.js";
import { $, confirmDialog, h, toast } from "../lib/dom.js";
import { formatAgo, formatCredits, formatDate, t } from "../lib/i18n.js";
import { refreshCredits, user as me } from "../lib/shell.js";

const body = $("#users-body");
const ROLE = { admin: "role.admin", user: "role.user" };
const LEDGER = { grant: "ledger.grant", charge: "ledger.charge", refund: "ledger.refund", reserve: "ledger.reserve", release: "ledger.release" };
let granting = null;

async function load() {
  const users = await api("/api/admin/users");
  body.replaceChildren(...users.map(row));
  body.setAttribute("aria-busy", "false");
}

function row(account) {
  const self = account.name === me.name;
  return h("tr", { dataset: { name: account.name } },
    h("td", { class: "strong", text: account.name }),
    h("td", { text: t(ROLE[account.role] || account.role) }),
    h("td", {}, h("span", { class: `badge ${account.disabled ? "badge-cancelled" : "badge-completed"}`, text: account.disabled ? t("users.disabled") : t("users.active") })),
    h("td", { class: "num", text: formatCredits(account.credits) }),
    h("td", { class: "hide-narrow", text: account.last_login_at ? formatAgo(account.last_login_at) : t("users.never") }),
    h("td", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-small", text: t("users.grant"), attrs: { "aria-label": t("users.grant_n", { name: account.name }) }, onclick: () => openGrant(account) }),
      h("button", { type: "button", class: "btn btn-small btn-ghost", disabled: self, text: account.disabled ? t("users.enable") : t("users.disable"), onclick: () => change(account, { disabled: !account.disabled }) }),
      h("button", { type: "button", class: "btn btn-small btn-ghost", disabled: self, text: account.role === "admin" ? t("users.make_user") : t("users.make_admin"), onclick: () => change(account, { role: account.role === "admin" ? "user" : "admin" }) }),
      // Your own password is changed on the account page, which asks for the current one.
      h("button", { type: "button", class: "btn btn-small btn-ghost", disabled: self, text: t("users.reset"), onclick: () => reset(account) })));
}

async function change(account, values) {
  try {
    await api(`/api/admin/users/${account.id}`, { method: "PUT", json: values });
    toast(t("users.saved"), "success");
    await load();
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

async function reset(account) {
  if (!(await confirmDialog(t("users.reset_confirm", { name: account.name }), { confirm: t("users.reset") }))) return;
  try {
    const answer = await api(`/api/admin/users/${account.id}/password`, { method: "POST", json: {} });
    showSecret(t("users.new_password", { name: account.name }), answer.password);
    toast(t("users.reset_ended", { sessions: answer.sessions_ended, tokens: answer.tokens_revoked }), "success");
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

/** A password shown once, selectable, in a small dialog. */
function showSecret(title, secret) {
  const code = h("input", { class: "secret", readOnly: true, value: secret, attrs: { "aria-label": title } });
  const close = h("button", { type: "submit", class: "btn btn-primary", text: t("common.close") });
  const dialog = h("dialog", { class: "dialog dialog-small", attrs: { "aria-label": title } },
    h("form", { method: "dialog", class: "stack" }, h("h2", { class: "h4", text: title }), code, h("p", { class: "hint", text: t("users.shown_once") }), h("div", { class: "actions" }, close)));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  code.select();
}

async function openGrant(account) {
  granting = account;
  $("#grant-who").textContent = t("users.grant_who", { name: account.name, credits: formatCredits(account.credits) });
  $("#grant-amount").value = "";
  $("#grant-note").value = "";
  showIssues($("#grant-issues"), null);
  $("#grant-dialog").showModal();
  $("#grant-amount").focus();
  const ledger = await api(`/api/admin/users/${account.id}/credits?limit=20`).catch(() => ({ entries: [] }));
  $("#ledger-body").replaceChildren(...ledger.entries.map((entry) =>
    h("tr", {}, h("td", { text: formatDate(entry.created_at) }), h("td", { text: t(LEDGER[entry.kind] || entry.kind) }),
      h("td", { class: "num", text: formatCredits(entry.amount) }), h("td", { text: entry.note || "" }))));
}

$("#grant-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const amount = Number($("#grant-amount").value);
  if (!amount) {
    showIssues($("#grant-issues"), { message: t("users.need_amount") });
    return $("#grant-amount").focus();
  }
  try {
    const note = $("#grant-note").value.trim();
    await api(`/api/admin/users/${granting.id}/credits`, { method: "POST", json: note ? { amount, note } : { amount } });
    $("#grant-dialog").close();
    toast(t("users.granted"), "success");
    await load();
    refreshCredits().catch(() => {});
  } catch (error) {
    showIssues($("#grant-issues"), { ...error, message: errorTitle(error) });
  }
});

$("#user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("#new-user-name").value.trim();
  const password = $("#new-user-password").value;
  if (!name) {
    showIssues($("#user-issues"), { message: t("users.need_name") });
    return $("#new-user-name").focus();
  }
  const json = { name, role: $("#new-user-role").value, credits: Number($("#new-user-credits").value) || 0 };
  if (password) json.password = password;
  try {
    const created = await api("/api/admin/users", { method: "POST", json });
    $("#user-dialog").close();
    await load();
    if (created.password) showSecret(t("users.new_password", { name }), created.password);
    else toast(t("users.created", { name }), "success");
  } catch (error) {
    showIssues($("#user-issues"), { ...error, message: errorTitle(error) });
  }
});

$("#user-add").addEventListener("click", () => {
  $("#user-form").reset();
  showIssues($("#user-issues"), null);
  $("#user-dialog").showModal();
  $("#new-user-name").focus();
});
$("#user-add").disabled = false; // served disabled: until now a click did nothing
$("#user-cancel").addEventListener("click", () => $("#user-dialog").close());
$("#grant-cancel").addEventListener("click", () => $("#grant-dialog").close());
load().catch((error) => toast(errorTitle(error), "error"));
refreshCredits().catch(() => {});
