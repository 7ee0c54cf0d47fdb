// History: my finished images, searchable by prompt, a page at a time; open one in the
// lightbox, download it, delete it. The search and page live in the URL (?q=&page=).
import { api, errorTitle } from "../lib/api.js";
import { fileUrl, thumbUrl } from "../lib/assets.js";
import { $, confirmDialog, h, toast } from "../lib/dom.js";
import { formatAgo, formatNumber, t } from "../lib/i18n.js";
import { Lightbox, viewOfRecord } from "../lib/lightbox.js";
import { refreshCredits } from "../lib/shell.js";

const PAGE_SIZE = 24;
const grid = $("#history-grid");
const search = $("#history-q");
let records = [];
let total = 0;
const params = new URLSearchParams(location.search);
let query = params.get("q") || "";
let page = Math.max(Number(params.get("page")) || 1, 1);
search.value = query;

const lightbox = new Lightbox({
  items: () => records.filter((record) => record.image).map(viewOfRecord),
  extraActions: (item) => [h("button", { type: "button", class: "btn btn-danger", text: t("history.delete"), onclick: () => remove(item, true) })],
});

function card(record) {
  const open = () => lightbox.open(records.filter((r) => r.image).indexOf(record));
  const picture = record.image
    ? h("button", { type: "button", class: "thumb-button", attrs: { "aria-label": t("history.open", { prompt: record.prompt.slice(0, 80) }) }, onclick: open },
      h("img", { src: thumbUrl(record.image.id), alt: record.prompt, loading: "lazy" }))
    : h("div", { class: `thumb-placeholder status-${record.status}`, attrs: { "aria-hidden": "true" } });
  return h("li", { class: "record-card" },
    picture,
    h("p", { class: "task-prompt", title: record.prompt, text: record.prompt }),
    record.error_message ? h("p", { class: "task-error", text: record.error_message }) : null,
    h("div", { class: "record-meta" },
      h("a", { href: `/batches/${record.batch_id}`, class: "small", text: record.batch_name }),
      h("span", { class: "small muted", text: formatAgo(record.finished_at) })),
    h("div", { class: "record-actions" },
      record.image ? h("a", { class: "btn btn-small btn-ghost", href: `${fileUrl(record.image.id)}?download=1`, download: "", text: t("history.download"), attrs: { "aria-label": t("history.download_n", { prompt: record.prompt.slice(0, 60) }) } }) : null,
      h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", text: t("history.delete"), attrs: { "aria-label": t("history.delete_n", { prompt: record.prompt.slice(0, 60) }) }, onclick: () => remove(record) })));
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

async function load({ push = false } = {}) {
  const offset = (page - 1) * PAGE_SIZE;
  const answer = await api(`/api/records?${new URLSearchParams({ search: query, limit: String(PAGE_SIZE), offset: String(offset) })}`);
  records = answer.items;
  total = answer.total;
  if (!records.length && page > 1 && total > 0) {
    page = Math.ceil(total / PAGE_SIZE);
    return load({ push });
  }
  grid.replaceChildren(...records.map(card));
  grid.setAttribute("aria-busy", "false");
  const pages = Math.max(Math.ceil(total / PAGE_SIZE), 1);
  $("#history-summary").textContent = query ? t("history.found", { n: formatNumber(total), q: query }) : t("history.count", { n: formatNumber(total) });
  $("#history-empty").hidden = total > 0;
  $("#history-empty-text").textContent = query ? t("history.no_match", { q: query }) : t("history.empty");
  $("#history-pager").hidden = pages < 2;
  $("#pager-state").textContent = t("pager.state", { page, pages });
  $("#pager-prev").disabled = page <= 1;
  $("#pager-next").disabled = page >= pages;
  const url = new URLSearchParams();
  if (query) url.set("q", query);
  if (page > 1) url.set("page", String(page));
  const target = `${location.pathname}${url.size ? `?${url}` : ""}`;
  if (push) history.pushState({ query, page }, "", target);
  else history.replaceState({ query, page }, "", target);
}

$("#history-search").addEventListener("submit", (event) => {
  event.preventDefault();
  query = search.value.trim();
  page = 1;
  load({ push: true });
});
$("#pager-prev").addEventListener("click", () => {
  page -= 1;
  load({ push: true });
});
$("#pager-next").addEventListener("click", () => {
  page += 1;
  load({ push: true });
});
window.addEventListener("popstate", (event) => {
  ({ query, page } = event.state || { query: "", page: 1 });
  search.value = query;
  load();
});

load().catch((error) => toast(errorTitle(error), "error"));
refreshCredits().catch(() => {});
