// My batches, newest first: status, progress, model, age. Refreshes itself while any
// batch shown is still going.
import { api, errorTitle } from "../lib/api.js";
import { $, confirmDialog, h, progressBar, progressText, toast } from "../lib/dom.js";
import { formatAgo, t } from "../lib/i18n.js";
import { batchName, providerAndModel } from "../lib/names.js";
import { ACTIVE_BATCH, FINISHED_BATCH, batchBadge, onStatusFilter } from "../lib/status.js";
import { refreshCredits } from "../lib/shell.js";

const body = $("#batches-body");
const more = $("#batches-more");
const REFRESH_MS = 3000;
let filter = "";
let cursor = null;
let shown = [];
let timer = null;

function row(batch) {
  return h("tr", { dataset: { id: batch.id } },
    h("td", {}, h("a", { href: `/batches/${batch.id}`, class: "strong", text: batchName(batch) }), h("div", { class: "muted small", text: `#${batch.id} · ${t(batch.mode === "edit" ? "mode.edit" : "mode.generate")}` })),
    h("td", {}, batchBadge(batch.status)),
    h("td", { class: "col-progress" },
      progressBar(batch, t("batches.progress_of", { name: batchName(batch) })),
      h("span", { class: "small muted progress-text", text: progressText(batch) })),
    h("td", { class: "hide-narrow", text: providerAndModel(batch.provider, batch.model) }),
    h("td", { class: "hide-narrow", title: batch.created_at, text: formatAgo(batch.created_at) }),
    h("td", { class: "col-actions" }, FINISHED_BATCH.has(batch.status)
      ? h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", text: t("common.delete"), attrs: { "aria-label": t("batches.delete_n", { name: batchName(batch) }) }, onclick: () => removeBatch(batch) })
      : null));
}

/** A finished or cancelled batch, its tasks and the images nothing else uses; asked first. */
async function removeBatch(batch) {
  const sure = await confirmDialog(t("batch.delete_confirm"), { confirm: t("batch.delete"), danger: true });
  if (!sure) return;
  try {
    await api(`/api/batches/${batch.id}`, { method: "DELETE" });
    toast(t("batches.deleted", { name: batchName(batch) }), "success");
    await load();
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

async function load({ append = false } = {}) {
  const query = new URLSearchParams({ limit: "50" });
  if (filter) query.set("status", filter);
  if (append && cursor) query.set("cursor", cursor);
  try {
    const page = await api(`/api/batches?${query}`);
    shown = append ? [...shown, ...page.items] : page.items;
    cursor = page.next_cursor;
    body.replaceChildren(...shown.map(row));
    body.setAttribute("aria-busy", "false");
    $("#batches-empty").hidden = shown.length > 0;
    more.hidden = !cursor;
  } catch (error) {
    toast(errorTitle(error), "error");
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  if (shown.some((batch) => ACTIVE_BATCH.has(batch.status))) {
    timer = setTimeout(() => {
      if (document.hidden) return schedule();
      load();
    }, REFRESH_MS);
  }
}

more.addEventListener("click", () => load({ append: true }));
onStatusFilter($("#batch-filters"), (status) => {
  filter = status;
  load();
});

load();
refreshCredits().catch(() => {});
