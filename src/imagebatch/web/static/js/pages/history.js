// History: my finished images as a gallery, a page at a time: searchable by prompt, filtered
// by batch, provider, status and days; opened in the lightbox; chosen many at a time to
// download as one ZIP, delete, retry or edit again. The search, filters and page live in
// the URL (?q=&batch=&provider=&status=&since=&until=&page=).
import { api, errorTitle } from "../lib/api.js";
import { thumbUrl } from "../lib/assets.js";
import { SelectionBar, recordFacts } from "../lib/bulk.js";
import { loadConfig } from "../lib/catalog.js";
import { $, confirmDialog, h, toast } from "../lib/dom.js";
import { Gallery, ratioOf } from "../lib/gallery.js";
import { formatAgo, formatNumber, t } from "../lib/i18n.js";
import { Lightbox, viewOfRecord } from "../lib/lightbox.js";
import { batchName, failureKind, failureNote, providerName, recordBatchName } from "../lib/names.js";
import { refreshCredits } from "../lib/shell.js";

const PAGE_SIZE = 24;
const FILTERS = ["batch", "provider", "status", "since", "until"];
const API_NAMES = { batch: "batch_id", provider: "provider", status: "status", since: "since", until: "until" };
const grid = $("#history-grid");
const search = $("#history-q");
const field = (name) => $(`#filter-${name}`);
let records = [];
let total = 0;
let state = fromUrl(new URLSearchParams(location.search));

function fromUrl(params) {
  return {
    q: params.get("q") || "",
    page: Math.max(Number(params.get("page")) || 1, 1),
    ...Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""])),
  };
}

const withImages = () => records.filter((record) => record.image);
const lightbox = new Lightbox({
  items: () => withImages().map(viewOfRecord),
  extraActions: (item) => [h("button", { type: "button", class: "btn btn-danger", text: t("history.delete"), onclick: () => remove(item, true) })],
});

let selection = null;
const gallery = new Gallery(grid, {
  keyOf: (record) => record.id,
  view: recordView,
  onOpen: (record) => lightbox.open(withImages().indexOf(record)),
  onChange: (chosen) => selection?.show(chosen),
});
selection = new SelectionBar(gallery, { facts: recordFacts, changed: () => load() });

function recordView(record) {
  const prompt = record.user_prompt ?? record.prompt;
  return {
    imageSrc: record.image ? thumbUrl(record.image.id) : null,
    ratio: ratioOf({ width: record.width, height: record.height, aspect_ratio: record.aspect_ratio }),
    label: t("history.open", { prompt: prompt.slice(0, 80) }),
    name: prompt.slice(0, 80),
    className: `record-card status-${record.status}`,
    caption: [
      h("p", { class: "task-prompt", title: record.prompt, text: prompt }),
      failureNote(failureKind(record), record.error_message),
      h("div", { class: "record-meta" },
        h("a", { href: `/batches/${record.batch_id}`, class: "small", text: recordBatchName(record) }),
        h("span", { class: "small muted", title: record.finished_at, text: formatAgo(record.finished_at) }),
        h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", text: "✕", attrs: { "aria-label": t("history.delete_n", { prompt: prompt.slice(0, 60) }) }, onclick: () => remove(record) })),
    ].filter(Boolean),
  };
}

async function remove(item, fromLightbox = false) {
  if (!(await confirmDialog(t("history.delete_confirm"), { confirm: t("history.delete"), danger: true }))) return;
  try {
    await api(`/api/records/${item.id}`, { method: "DELETE" });
    toast(t("history.deleted"), "success");
    if (fromLightbox) lightbox.dialog.close();
    await load();
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

function query() {
  const params = new URLSearchParams({ search: state.q, limit: String(PAGE_SIZE), offset: String((state.page - 1) * PAGE_SIZE) });
  for (const name of FILTERS) if (state[name]) params.set(API_NAMES[name], state[name]);
  return params;
}

async function load({ push = false } = {}) {
  let answer;
  try {
    answer = await api(`/api/records?${query()}`);
  } catch (error) {
    grid.setAttribute("aria-busy", "false");
    return toast(errorTitle(error), "error");
  }
  records = answer.items;
  total = answer.total;
  if (!records.length && state.page > 1 && total > 0) {
    state.page = Math.ceil(total / PAGE_SIZE);
    return load({ push });
  }
  gallery.setItems(records);
  grid.setAttribute("aria-busy", "false");
  showSummary();
  remember(push);
}

function showSummary() {
  const pages = Math.max(Math.ceil(total / PAGE_SIZE), 1);
  const filtered = FILTERS.some((name) => state[name]);
  $("#history-summary").textContent = state.q ? t("history.found", { n: formatNumber(total), q: state.q }) : t("history.count", { n: formatNumber(total) });
  $("#history-empty").hidden = total > 0;
  $("#history-empty-text").textContent = state.q ? t("history.no_match", { q: state.q }) : filtered ? t("history.no_filtered") : t("history.empty");
  $("#filter-clear").hidden = !filtered;
  $("#history-pager").hidden = pages < 2;
  $("#pager-state").textContent = t("pager.state", { page: state.page, pages });
  $("#pager-prev").disabled = state.page <= 1;
  $("#pager-next").disabled = state.page >= pages;
}

function remember(push) {
  const url = new URLSearchParams();
  if (state.q) url.set("q", state.q);
  for (const name of FILTERS) if (state[name]) url.set(name, state[name]);
  if (state.page > 1) url.set("page", String(state.page));
  const target = `${location.pathname}${url.size ? `?${url}` : ""}`;
  if (push) history.pushState(state, "", target);
  else history.replaceState(state, "", target);
}

function showFilters() {
  search.value = state.q;
  for (const name of FILTERS) field(name).value = state[name];
}

/** The batch and provider choices: my recent batches, the configured providers. */
async function fillChoices() {
  const [batches, config] = await Promise.all([api("/api/batches?limit=100"), loadConfig()]);
  const options = batches.items.map((batch) => h("option", { value: String(batch.id), text: `#${batch.id} · ${batchName(batch)}` }));
  if (state.batch && !batches.items.some((batch) => String(batch.id) === state.batch)) {
    options.push(h("option", { value: state.batch, text: `#${state.batch}` }));
  }
  field("batch").append(...options);
  field("provider").append(...config.providers.map((provider) => h("option", { value: provider.name, text: providerName(provider.name) })));
  showFilters();
}

$("#history-search").addEventListener("submit", (event) => {
  event.preventDefault();
  state = { ...state, q: search.value.trim(), page: 1 };
  load({ push: true });
});
for (const name of FILTERS) {
  field(name).addEventListener("change", () => {
    state = { ...state, [name]: field(name).value, page: 1 };
    load({ push: true });
  });
}
$("#filter-clear").addEventListener("click", () => {
  state = { ...state, ...Object.fromEntries(FILTERS.map((name) => [name, ""])), page: 1 };
  showFilters();
  load({ push: true });
});
$("#pager-prev").addEventListener("click", () => {
  state = { ...state, page: state.page - 1 };
  load({ push: true });
});
$("#pager-next").addEventListener("click", () => {
  state = { ...state, page: state.page + 1 };
  load({ push: true });
});
window.addEventListener("popstate", (event) => {
  state = event.state || fromUrl(new URLSearchParams(location.search));
  showFilters();
  load();
});

showFilters();
fillChoices().catch((error) => toast(errorTitle(error), "error"));
load();
refreshCredits().catch(() => {});
