// Admin presets: add, edit, reorder (move up/down), enable or disable, delete. The order
// here is the order of the composer's preset picker.
import { api, errorTitle, showIssues } from "../lib/api.js";
import { $, confirmDialog, h, toast } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { refreshCredits } from "../lib/shell.js";

const body = $("#presets-body");
const dialog = $("#preset-dialog");
const form = $("#preset-form");
const issues = $("#preset-issues");
let presets = [];
let editing = null;

async function load(focusId = null, focusAction = null) {
  presets = await api("/api/admin/presets");
  body.replaceChildren(...presets.map(row));
  body.setAttribute("aria-busy", "false");
  $("#presets-empty").hidden = presets.length > 0;
  if (focusId) body.querySelector(`[data-id="${focusId}"] [data-action="${focusAction}"]:not(:disabled)`)?.focus();
}

function row(preset, index) {
  const toggle = h("input", {
    type: "checkbox",
    checked: preset.active,
    class: "switch",
    attrs: { "aria-label": t("presets.active_n", { title: preset.title }) },
    onchange: () => update(preset, { active: toggle.checked }, "toggle"),
    dataset: { action: "toggle" },
  });
  return h("tr", { dataset: { id: preset.id } },
    h("td", { class: "order-cell" },
      h("button", { type: "button", class: "btn btn-small btn-ghost", text: "↑", disabled: index === 0, dataset: { action: "up" }, attrs: { "aria-label": t("presets.up", { title: preset.title }) }, onclick: () => move(index, -1) }),
      h("button", { type: "button", class: "btn btn-small btn-ghost", text: "↓", disabled: index === presets.length - 1, dataset: { action: "down" }, attrs: { "aria-label": t("presets.down", { title: preset.title }) }, onclick: () => move(index, 1) })),
    h("td", { class: "strong", text: preset.title }),
    h("td", { class: "hide-narrow", text: preset.category || "–" }),
    h("td", { class: "hide-narrow clamp", title: preset.content, text: preset.content }),
    h("td", {}, h("label", { class: "check" }, toggle, h("span", { text: preset.active ? t("presets.on") : t("presets.off") }))),
    h("td", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-small", text: t("common.edit"), attrs: { "aria-label": t("presets.edit_n", { title: preset.title }) }, onclick: () => openDialog(preset) }),
      h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", text: t("common.delete"), attrs: { "aria-label": t("presets.delete_n", { title: preset.title }) }, onclick: () => remove(preset) })));
}

async function update(preset, values, focusAction) {
  try {
    await api(`/api/admin/presets/${preset.id}`, { method: "PUT", json: values });
    await load(preset.id, focusAction);
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

/** Swap with the neighbour: every preset gets its position as sort_order (10, 20, …). */
async function move(index, step) {
  const order = [...presets];
  const [moved] = order.splice(index, 1);
  order.splice(index + step, 0, moved);
  try {
    await Promise.all(order.map((preset, position) =>
      preset.sort_order === (position + 1) * 10 ? null : api(`/api/admin/presets/${preset.id}`, { method: "PUT", json: { sort_order: (position + 1) * 10 } })));
    await load(moved.id, step < 0 ? "up" : "down");
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

async function remove(preset) {
  if (!(await confirmDialog(t("presets.delete_confirm", { title: preset.title }), { confirm: t("common.delete"), danger: true }))) return;
  try {
    await api(`/api/admin/presets/${preset.id}`, { method: "DELETE" });
    toast(t("presets.deleted"), "success");
    await load();
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

function openDialog(preset = null) {
  editing = preset;
  $("#preset-dialog-title").textContent = preset ? t("presets.edit") : t("presets.add");
  $("#preset-title").value = preset?.title || "";
  $("#preset-category").value = preset?.category || "";
  $("#preset-content").value = preset?.content || "";
  $("#preset-active").checked = preset ? preset.active : true;
  showIssues(issues, null);
  dialog.showModal();
  $("#preset-title").focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = {
    title: $("#preset-title").value.trim(),
    category: $("#preset-category").value.trim(),
    content: $("#preset-content").value.trim(),
    active: $("#preset-active").checked,
  };
  if (!values.title) return showIssues(issues, { message: t("presets.need_title") }), $("#preset-title").focus();
  if (!values.content) return showIssues(issues, { message: t("presets.need_content") }), $("#preset-content").focus();
  try {
    if (editing) {
      await api(`/api/admin/presets/${editing.id}`, { method: "PUT", json: values });
    } else {
      const last = presets.reduce((max, p) => Math.max(max, p.sort_order), 0);
      await api("/api/admin/presets", { method: "POST", json: { ...values, sort_order: last + 10 } });
    }
    dialog.close();
    toast(t("presets.saved"), "success");
    await load();
  } catch (error) {
    showIssues(issues, { ...error, message: errorTitle(error) });
  }
});

$("#preset-cancel").addEventListener("click", () => dialog.close());
$("#preset-add").addEventListener("click", () => openDialog());
$("#preset-add").disabled = false; // served disabled: until now a click did nothing
load().catch((error) => toast(errorTitle(error), "error"));
refreshCredits().catch(() => {});
