// Your account: credits, personal API tokens (the new one shown once), your own provider
// keys (lib/own-keys.js), the default webhook and its signing secret, and the password.
import { api, errorTitle, showIssues } from "../lib/api.js";
import { loadConfig } from "../lib/catalog.js";
import { $, confirmDialog, copyText, h, toast } from "../lib/dom.js";
import { formatAgo, formatCredits, formatDate, t } from "../lib/i18n.js";
import { OwnKeys } from "../lib/own-keys.js";
import { showCredits } from "../lib/shell.js";

// ---- credits ----
async function loadCredits() {
  const me = await api("/api/auth/me");
  $("#account-credits").textContent = formatCredits(me.credits);
  showCredits(me.credits);
}

// ---- API tokens ----
const tokensBody = $("#tokens-body");

async function loadTokens() {
  const tokens = (await api("/api/auth/tokens")).filter((token) => !token.revoked_at);
  tokensBody.replaceChildren(...tokens.map(tokenRow));
  tokensBody.setAttribute("aria-busy", "false");
  $("#tokens-empty").hidden = tokens.length > 0;
}

function tokenRow(token) {
  return h("tr", { dataset: { id: token.id } },
    h("td", { class: "strong", text: token.name }),
    h("td", {}, h("code", { text: `${token.prefix}…` })),
    h("td", { class: "hide-narrow", text: formatDate(token.created_at) }),
    h("td", { text: token.last_used_at ? formatAgo(token.last_used_at) : t("tokens.never_used") }),
    h("td", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-small btn-danger-text", text: t("tokens.revoke"), attrs: { "aria-label": t("tokens.revoke_n", { name: token.name }) }, onclick: () => revoke(token) })));
}

async function revoke(token) {
  if (!(await confirmDialog(t("tokens.revoke_confirm", { name: token.name }), { confirm: t("tokens.revoke"), danger: true }))) return;
  try {
    await api(`/api/auth/tokens/${token.id}`, { method: "DELETE" });
    toast(t("tokens.revoked"), "success");
    await loadTokens();
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

$("#token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = $("#token-name").value.trim();
  const button = $("#token-create");
  button.disabled = true;
  try {
    const created = await api("/api/auth/tokens", { method: "POST", json: name ? { name } : {} });
    $("#token-secret").value = created.token;
    $("#token-new").hidden = false;
    $("#token-secret").select();
    $("#token-name").value = "";
    await loadTokens();
  } catch (error) {
    toast(errorTitle(error), "error");
  } finally {
    button.disabled = false;
  }
});
$("#token-copy").addEventListener("click", () => copyText($("#token-secret").value, $("#token-secret")));

// ---- webhook ----
const webhook = { url: null };
const secret = $("#webhook-secret");

async function loadWebhook() {
  showWebhook(await api("/api/auth/webhook"));
  $("#webhook-form").setAttribute("aria-busy", "false");
}

function showWebhook(answer) {
  webhook.url = answer.url;
  $("#webhook-url").value = answer.url || "";
  secret.value = answer.secret;
}

async function saveWebhook(json, done) {
  const issues = $("#webhook-issues");
  try {
    showWebhook(await api("/api/auth/webhook", { method: "PUT", json }));
    showIssues(issues, null);
    toast(done, "success");
  } catch (error) {
    showIssues(issues, { ...error, message: errorTitle(error) });
  }
}

$("#webhook-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = $("#webhook-url").value.trim();
  saveWebhook({ url: url || null }, url ? t("webhook.saved") : t("webhook.removed"));
});
$("#webhook-rotate").addEventListener("click", async () => {
  if (!(await confirmDialog(t("webhook.rotate_confirm"), { confirm: t("webhook.rotate"), danger: true }))) return;
  saveWebhook({ url: webhook.url, rotate_secret: true }, t("webhook.rotated"));
});
$("#webhook-show").addEventListener("click", (event) => {
  const showing = secret.type === "password";
  secret.type = showing ? "text" : "password";
  event.currentTarget.setAttribute("aria-pressed", String(showing));
  event.currentTarget.textContent = showing ? t("webhook.hide") : t("webhook.show");
});
$("#webhook-copy").addEventListener("click", () => copyText(secret.value, secret));

// ---- password: every session ends (this one too, so back to the login page) and every token ----
$("#password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const issues = $("#password-issues");
  const current = $("#password-current");
  const fresh = $("#password-new");
  const problem = !current.value ? [current, t("password.need_current")]
    : fresh.value.length < 8 ? [fresh, t("password.rule")]
      : fresh.value !== $("#password-repeat").value ? [$("#password-repeat"), t("password.mismatch")] : null;
  if (problem) {
    showIssues(issues, { message: problem[1] });
    return problem[0].focus();
  }
  try {
    const ended = await api("/api/auth/password", { method: "POST", json: { current_password: current.value, new_password: fresh.value } });
    // The login page says how many API tokens ended with the old password.
    location.assign(`/login?next=/account&changed=1${ended.tokens_revoked ? `&tokens=${ended.tokens_revoked}` : ""}`);
  } catch (error) {
    const wrong = error.status === 401;
    showIssues(issues, wrong ? { message: t("password.wrong") } : { ...error, message: errorTitle(error) });
    if (wrong) current.focus();
  }
});

const config = await loadConfig();
const failed = (error) => toast(errorTitle(error), "error");
await Promise.all([
  loadCredits().catch(failed),
  loadTokens().catch(failed),
  new OwnKeys($("#keys-list"), $("#keys-empty"), config.providers.filter((p) => p.own_keys)).load().catch(failed),
  loadWebhook().catch(failed),
]);
document.body.dataset.ready = "true";
