// My batches, newest first: status, progress, model, age. Refreshes itself while any
// batch shown is still going.
import { api, errorTitle } from "../lib/api.js";
import { $, $$, h, progressBar, toast } from "../lib/dom.js";
import { formatAgo, formatNumber, t } from "../lib/i18n.js";
import { ACTIVE_BATCH, batchBadge } from "../lib/status.js";
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
    h("td", {}, h("a", { href: `/batches/${batch.id}`, class: "strong", text: batch.name }), h("div", { class: "muted small", text: `#${batch.id} · ${t(batch.mode === "edit" ? "mode.edit" : "mode.generate")}` })),
    h("td", {}, batchBadge(batch.status)),
    h("td", { class: "col-progress" },
      progressBar(batch, t("batches.progress_of", { name: batch.name })),
      h("span", { class: "small muted", text: t("batches.progress_text", { done: formatNumber(batch.done), total: formatNumber(batch.total), failed: formatNumber(batch.failed) }) })),
    h("td", { class: "hide-narrow", text: `${batch.provider} · ${batch.model}` }),
    h("td", { class: "hide-narrow", title: batch.created_at, text: formatAgo(batch.created_at) }));
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
for (const chip of $$("#batch-filters .chip")) {
  chip.addEventListener("click", () => {
    filter = chip.dataset.filter;
    for (const other of $$("#batch-filters .chip")) other.setAttribute("aria-pressed", String(other === chip));
    load();
  });
}

load();
refreshCredits().catch(() => {});
