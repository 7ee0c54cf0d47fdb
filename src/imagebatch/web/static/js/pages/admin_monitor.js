// Admin monitoring: summary cards, every user's batches with progress, charts of images
// per day, success rate and cost per provider, and the worker processes (live or stopped).
// Refreshes every few seconds.
import { api, errorTitle } from "../lib/api.js";
import { $, h, progressBar, progressText, toast } from "../lib/dom.js";
import { formatAgo, formatDate, formatNumber, lang, t } from "../lib/i18n.js";
import { batchName, providerName } from "../lib/names.js";
import { batchBadge, onStatusFilter } from "../lib/status.js";
import { refreshCredits } from "../lib/shell.js";

const REFRESH_MS = 3000;
const charts = {};
let filter = ""; // a batch status, or every batch
const COLORS = { bar: "#4f46e5", ok: "#16a34a", cost: "#d97706" };

function chart(id, type, labels, data, color, options = {}) {
  if (!window.Chart) return; // the chart library is optional: cards and table still work
  if (charts[id]) {
    charts[id].data.labels = labels;
    charts[id].data.datasets[0].data = data;
    charts[id].update("none");
    return;
  }
  charts[id] = new window.Chart(document.getElementById(id), {
    type,
    data: { labels, datasets: [{ data, backgroundColor: color, borderRadius: 4, maxBarThickness: 48 }] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      locale: lang,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ...options.y } },
    },
  });
}

function showStats(stats) {
  const byStatus = stats.batches_by_status;
  $("#stat-batches").textContent = formatNumber(stats.totals.batches);
  $("#stat-running").textContent = formatNumber((byStatus.running || 0) + (byStatus.queued || 0));
  $("#stat-completed").textContent = formatNumber((byStatus.completed || 0) + (byStatus.completed_with_failures || 0));
  $("#stat-cancelled").textContent = formatNumber(byStatus.cancelled || 0);
  $("#stat-images").textContent = formatNumber(stats.totals.images);
  $("#success-overall").textContent = stats.success_rate === null ? "" : t("monitor.overall", { pct: Math.round(stats.success_rate * 100) });
  chart("chart-days", "bar", stats.images_per_day.map((d) => d.day), stats.images_per_day.map((d) => d.images), COLORS.bar);
  const providers = stats.providers;
  chart("chart-success", "bar", providers.map((p) => providerName(p.provider)), providers.map((p) => (p.success_rate === null ? 0 : Math.round(p.success_rate * 1000) / 10)), COLORS.ok, { y: { max: 100 } });
  chart("chart-cost", "bar", providers.map((p) => providerName(p.provider)), providers.map((p) => p.cost), COLORS.cost);
}

function row(batch) {
  return h("tr", {},
    h("td", {}, h("a", { href: `/batches/${batch.id}`, text: batchName(batch) })),
    h("td", { text: batch.owner }),
    h("td", {}, batchBadge(batch.status)),
    h("td", { class: "col-progress" },
      progressBar(batch, t("batches.progress_of", { name: batchName(batch) })),
      h("span", { class: "small muted progress-text", text: progressText(batch) })),
    h("td", { class: "hide-narrow", text: formatAgo(batch.created_at) }));
}

function workerRow(worker) {
  const state = worker.live ? "workers.live" : worker.stopped_at ? "workers.stopped" : "workers.silent";
  return h("tr", { dataset: { pid: worker.pid, host: worker.host } },
    h("td", { class: "strong", text: worker.host }),
    h("td", { class: "num", text: String(worker.pid) }),
    h("td", {}, h("span", { class: `badge ${worker.live ? "badge-completed" : "badge-cancelled"}`, text: t(state) })),
    h("td", { class: "num", text: t("workers.load", { running: formatNumber(worker.running), concurrency: formatNumber(worker.concurrency) }) }),
    h("td", { class: "hide-narrow", text: worker.version }),
    h("td", { class: "hide-narrow", text: formatDate(worker.started_at) }),
    h("td", { text: formatAgo(worker.stopped_at || worker.last_seen) }));
}

function showWorkers(workers) {
  $("#workers-body").replaceChildren(...workers.map(workerRow));
  $("#workers-body").setAttribute("aria-busy", "false");
  $("#workers-empty").hidden = workers.length > 0;
}

function backendRow(provider, backend) {
  return h("tr", { dataset: { url: backend.url } },
    h("td", { text: providerName(provider) }),
    h("td", { class: "strong", text: backend.url }),
    h("td", {}, h("span", { class: `badge ${backend.up ? "badge-completed" : "badge-failed"}`, text: t(backend.up ? "backends.up" : "backends.benched") })),
    h("td", { class: "num", text: formatNumber(backend.running) }),
    h("td", { class: "num", text: backend.queue_length === null ? "–" : formatNumber(backend.queue_length) }),
    h("td", { class: "small muted", text: backend.last_error || "" }));
}

// The ComfyUI pool's servers, from the admin's view of /api/health (a 503 still has a body).
async function showBackends() {
  const response = await fetch("/api/health", { credentials: "same-origin" });
  const pools = (await response.json()).backends || {};
  const rows = Object.entries(pools).flatMap(([provider, backends]) => backends.map((b) => backendRow(provider, b)));
  $("#backends-body").replaceChildren(...rows);
  $("#backends").hidden = rows.length === 0;
}

async function refresh() {
  try {
    const path = batchesPath();
    const [stats, batches, workers] = await Promise.all([api("/api/admin/stats?days=30"), api(path), api("/api/admin/workers")]);
    showWorkers(workers);
    showBackends().catch(() => {}); // a pool that cannot be read must not hide the rest
    showStats(stats);
    if (path === batchesPath()) showBatches(batches); // else a filter chip changed meanwhile
    $("#monitor-updated").textContent = t("monitor.updated", { time: new Date().toLocaleTimeString(lang) });
  } catch (error) {
    toast(errorTitle(error), "error");
  }
  setTimeout(() => (document.hidden ? setTimeout(refresh, REFRESH_MS) : refresh()), REFRESH_MS);
}

function batchesPath() {
  const query = new URLSearchParams({ limit: "50" });
  if (filter) query.set("status", filter);
  return `/api/admin/batches?${query}`;
}

function showBatches(batches) {
  $("#monitor-body").replaceChildren(...batches.items.map(row));
  $("#monitor-body").setAttribute("aria-busy", "false");
  $("#monitor-empty").hidden = batches.items.length > 0;
}

/** The batches of one status; the next refreshes keep to it. */
async function showOnly(status) {
  filter = status;
  try {
    showBatches(await api(batchesPath()));
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

onStatusFilter($("#monitor-filters"), showOnly);

// Chart.js arrives with a deferred classic script; module scripts run after it.
refresh();
refreshCredits().catch(() => {});
