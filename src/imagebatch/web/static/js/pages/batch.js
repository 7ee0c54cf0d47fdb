// One batch, live: counts, progress, rate and ETA from Server-Sent Events (polling when
// the stream fails), a grid of its tasks with thumbnails as they arrive, the controls
// (pause, resume, cancel, retry failed or one), the ZIP, and the lightbox.
import { api, errorTitle } from "../lib/api.js";
import { thumbUrl } from "../lib/assets.js";
import { SelectionBar, taskFacts } from "../lib/bulk.js";
import { $, $$, confirmDialog, h, setProgress, toast } from "../lib/dom.js";
import { formatAgo, formatDuration, formatNumber, t } from "../lib/i18n.js";
import { Gallery, ratioOf } from "../lib/gallery.js";
import { Lightbox, viewOfTask } from "../lib/lightbox.js";
import { issueContent } from "../lib/messages.js";
import { batchName, failureNote, providerName } from "../lib/names.js";
import { ACTIVE_BATCH, FINISHED_BATCH, applyBatchBadge, taskBadge } from "../lib/status.js";
import { refreshCredits } from "../lib/shell.js";

const batchId = Number(document.body.dataset.batchId);
const PAGE = 200;
const POLL_MS = 2000;

const state = {
  batch: null,
  tasks: new Map(), // id -> task, in the order loaded
  cursor: null,
  filter: "",
  samples: [], // [time ms, done] over the last minute, for the rate
  source: null,
  polling: null,
};

const grid = $("#task-grid");
const lightbox = new Lightbox({ items: () => withImages().map(viewOfTask) });

function withImages() {
  return [...state.tasks.values()].filter((task) => task.status === "succeeded" && task.output_image_id);
}

// ---- the batch: counts, progress, rate, ETA, buttons ----
function showBatch(batch) {
  state.batch = batch;
  document.title = `${batchName(batch)} · imagebatch`;
  $("#batch-name").textContent = batchName(batch);
  $("#batch-meta").textContent = t("batch.meta", { provider: providerName(batch.provider), model: batch.model, owner: batch.owner, created: formatAgo(batch.created_at) });
  applyBatchBadge($("#batch-status"), batch.status);
  setProgress($("#progress-bar"), batch);
  const running = [...state.tasks.values()].filter((task) => task.status === "running").length;
  const counts = {
    total: batch.total,
    succeeded: batch.succeeded,
    failed: batch.failed,
    running: FINISHED_BATCH.has(batch.status) ? 0 : running,
    pending: Math.max(batch.total - batch.done - running, 0),
    cancelled: batch.cancelled,
  };
  for (const [name, value] of Object.entries(counts)) $(`#count-${name}`).textContent = formatNumber(value);
  showRate(batch);
  $("#act-pause").hidden = !["queued", "running"].includes(batch.status);
  $("#act-resume").hidden = batch.status !== "paused";
  $("#act-cancel").hidden = !ACTIVE_BATCH.has(batch.status);
  $("#act-retry").hidden = batch.failed === 0;
  $("#act-delete").hidden = !FINISHED_BATCH.has(batch.status);
  $("#act-download").classList.toggle("disabled", batch.succeeded === 0);
  $("#act-download").setAttribute("aria-disabled", String(batch.succeeded === 0));
}

/** Tasks that ran to an end. Cancelled ones did not: a cancel must not look like speed. */
const completions = (batch) => batch.succeeded + batch.failed;

/** Over the whole run: from the first task's start to the end (or now, while it runs). */
function averageRate(batch) {
  if (!batch.started_at || !completions(batch)) return 0;
  const end = batch.finished_at ? new Date(batch.finished_at).getTime() : Date.now();
  return completions(batch) / Math.max((end - new Date(batch.started_at).getTime()) / 1000, 1);
}

/** Over the last minute, while the batch runs; the run's average when that says nothing. */
function recentRate(batch) {
  const now = Date.now();
  state.samples.push([now, completions(batch)]);
  state.samples = state.samples.filter(([time]) => now - time < 60_000);
  const [firstTime, firstDone] = state.samples[0];
  const perSecond = (completions(batch) - firstDone) / ((now - firstTime) / 1000);
  return perSecond > 0 ? perSecond : averageRate(batch);
}

// A finished batch's rate is its run's average, fixed at its end, and nothing is left.
function showRate(batch) {
  const finished = FINISHED_BATCH.has(batch.status);
  const perSecond = finished ? averageRate(batch) : recentRate(batch);
  const remaining = batch.total - batch.done;
  $("#batch-rate").textContent = perSecond > 0 ? t("batch.rate_value", { n: formatNumber(Math.round(perSecond * 600) / 10) }) : "–";
  $("#batch-eta").textContent = finished ? t("batch.eta_done") : perSecond > 0 && batch.status !== "paused" ? formatDuration(remaining / perSecond) : "–";
}

// ---- tasks: a gallery, each picture in its own shape ----
let selection = null;
const gallery = new Gallery(grid, {
  keyOf: (task) => task.id,
  view: taskView,
  onOpen: (task) => lightbox.open(withImages().indexOf(state.tasks.get(task.id))),
  onChange: (chosen) => selection?.show(chosen),
});
selection = new SelectionBar(gallery, { facts: taskFacts, changed: afterBulk });

function taskView(task) {
  const n = task.seq + 1;
  const done = task.status === "succeeded" && task.output_image_id;
  const retry = task.status === "failed"
    ? h("button", { type: "button", class: "btn btn-small", text: t("batch.retry_one"), attrs: { "aria-label": t("batch.retry_task", { n }) }, onclick: () => retryTask(task.id) })
    : null;
  return {
    imageSrc: done ? thumbUrl(task.output_image_id) : null,
    ratio: ratioOf(task),
    label: done ? t("batch.open_task", { n }) : t("batch.task_n", { n }),
    name: t("batch.task_n", { n }),
    className: `task-card status-${task.status}`,
    placeholder: task.status === "running" ? h("span", { class: "spinner" }) : null,
    caption: [
      h("div", { class: "task-line" }, h("span", { class: "task-number", text: t("batch.task_n", { n }) }), taskBadge(task.status)),
      // an edit: which of the user's files it changed, and what they asked (not the preset's text)
      task.input_name ? h("p", { class: "task-source", title: task.input_name, text: t("batch.source", { name: task.input_name }) }) : null,
      h("p", { class: "task-prompt", title: task.prompt, text: task.user_prompt ?? task.prompt }),
      failureNote(task.error_kind, task.error_message),
      retry,
    ].filter(Boolean),
  };
}

function visible(task) {
  return !state.filter || task.status === state.filter;
}

function renderTask(task) {
  const shown = gallery.items.some((item) => item.id === task.id);
  if (shown && visible(task)) gallery.update(task);
  else if (shown || visible(task)) renderAll();
}

function renderAll() {
  gallery.setItems([...state.tasks.values()].filter(visible));
  $("#tasks-empty").hidden = gallery.items.length > 0;
  grid.setAttribute("aria-busy", "false");
}

async function loadTasks(reset = false) {
  if (reset) {
    state.tasks.clear();
    state.cursor = null;
  }
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (state.cursor) query.set("cursor", state.cursor);
  const page = await api(`/api/batches/${batchId}/tasks?${query}`);
  for (const task of page.items) state.tasks.set(task.id, task);
  state.cursor = page.next_cursor;
  $("#tasks-more").hidden = !state.cursor;
  renderAll();
}

/** Everything loaded so far, again (after a retry, or when polling). */
async function reloadLoaded() {
  const count = Math.max(state.tasks.size, PAGE);
  state.tasks.clear();
  state.cursor = null;
  while (state.tasks.size < count) {
    const before = state.tasks.size;
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (state.cursor) query.set("cursor", state.cursor);
    const page = await api(`/api/batches/${batchId}/tasks?${query}`);
    for (const task of page.items) state.tasks.set(task.id, task);
    state.cursor = page.next_cursor;
    if (!state.cursor || state.tasks.size === before) break;
  }
  $("#tasks-more").hidden = !state.cursor;
  renderAll();
}

function taskChanged(data) {
  const task = state.tasks.get(data.task_id);
  if (!task) return;
  task.status = data.status;
  if (data.output_image_id) task.output_image_id = data.output_image_id;
  task.error_message = data.status === "succeeded" ? null : data.error ?? task.error_message;
  task.error_kind = data.status === "succeeded" ? null : data.error_kind ?? task.error_kind;
  renderTask(task);
  if (state.batch) showBatch(state.batch);
}

// ---- live updates: SSE first, polling when it fails ----
function setLive(key) {
  $("#live-state").textContent = key ? t(key) : "";
}

function connect() {
  if (!("EventSource" in window)) return startPolling();
  const source = new EventSource(`/api/batches/${batchId}/events`);
  state.source = source;
  let failures = 0;
  source.addEventListener("open", () => {
    failures = 0;
    setLive("batch.live");
  });
  source.addEventListener("batch", (event) => {
    const batch = JSON.parse(event.data);
    showBatch(batch);
    if (FINISHED_BATCH.has(batch.status)) finish();
  });
  source.addEventListener("task", (event) => taskChanged(JSON.parse(event.data)));
  // The server closed this stream for the user's newer one (too many open): poll instead,
  // rather than reconnect and close the newer one in turn.
  source.addEventListener("closed", () => {
    source.close();
    state.source = null;
    startPolling();
  });
  source.addEventListener("error", () => {
    failures += 1;
    if (source.readyState === EventSource.CLOSED || failures >= 3) {
      source.close();
      state.source = null;
      startPolling();
    }
  });
}

function startPolling() {
  if (state.polling) return;
  setLive("batch.polling");
  state.polling = setInterval(async () => {
    try {
      const batch = await api(`/api/batches/${batchId}`);
      await reloadLoaded();
      showBatch(batch);
      if (FINISHED_BATCH.has(batch.status)) finish();
    } catch {
      setLive("batch.offline");
    }
  }, POLL_MS);
}

async function finish() {
  state.source?.close();
  state.source = null;
  clearInterval(state.polling);
  state.polling = null;
  setLive("");
  await reloadLoaded();
  showBatch(await api(`/api/batches/${batchId}`));
  refreshCredits().catch(() => {});
}

function follow() {
  if (!state.source && !state.polling) connect();
}

// ---- actions ----
async function act(path, message) {
  try {
    const answer = await api(`/api/batches/${batchId}/${path}`, { method: "POST" });
    const batch = answer.batch || answer;
    showBatch(batch);
    if (path === "retry") await reloadLoaded();
    toast(message, "success");
    if (ACTIVE_BATCH.has(batch.status)) follow();
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

async function retryTask(taskId) {
  try {
    const task = await api(`/api/tasks/${taskId}/retry`, { method: "POST" });
    state.tasks.set(task.id, task);
    renderTask(task);
    showBatch(await api(`/api/batches/${batchId}`));
    toast(t("batch.retried_one"), "success");
    follow();
  } catch (error) {
    toast(errorTitle(error), "error");
  }
}

$("#act-pause").addEventListener("click", () => act("pause", t("batch.paused")));
$("#act-resume").addEventListener("click", () => act("resume", t("batch.resumed")));
$("#act-cancel").addEventListener("click", async () => {
  const left = state.batch ? state.batch.total - state.batch.done : 0;
  const sure = await confirmDialog(t("batch.cancel_confirm", { n: formatNumber(left) }), { confirm: t("batch.cancel"), cancel: t("batch.cancel_keep"), danger: true });
  if (sure) await act("cancel", t("batch.cancelled"));
});
$("#act-retry").addEventListener("click", () => act("retry", t("batch.retried")));
$("#act-delete").addEventListener("click", async () => {
  if (!(await confirmDialog(t("batch.delete_confirm"), { confirm: t("batch.delete"), danger: true }))) return;
  try {
    await api(`/api/batches/${batchId}`, { method: "DELETE" });
    location.assign("/batches");
  } catch (error) {
    toast(errorTitle(error), "error");
  }
});

/** After a bulk delete or retry: the tasks and counts again, followed live if it runs. */
async function afterBulk() {
  await reloadLoaded();
  const batch = await api(`/api/batches/${batchId}`);
  showBatch(batch);
  if (ACTIVE_BATCH.has(batch.status)) follow();
}
$("#act-download").addEventListener("click", (event) => {
  if (state.batch?.succeeded === 0) event.preventDefault();
});
$("#tasks-more").addEventListener("click", () => loadTasks());
for (const chip of $$("#task-filters .chip")) {
  chip.addEventListener("click", () => {
    state.filter = chip.dataset.filter;
    for (const other of $$("#task-filters .chip")) other.setAttribute("aria-pressed", String(other === chip));
    renderAll();
  });
}

function showSkipped() {
  const key = `ib-skipped-${batchId}`;
  const skipped = JSON.parse(sessionStorage.getItem(key) || "[]");
  sessionStorage.removeItem(key);
  if (!skipped.length) return;
  const notice = $("#batch-notice");
  notice.replaceChildren(h("strong", { text: t("batch.skipped", { n: skipped.length }) }),
    h("ul", {}, skipped.map((s) => h("li", {}, ...issueContent(s)))));
  notice.hidden = false;
}

try {
  const batch = await api(`/api/batches/${batchId}`);
  await loadTasks();
  showBatch(batch);
  showSkipped();
  refreshCredits().catch(() => {});
  if (!FINISHED_BATCH.has(batch.status)) connect();
} catch (error) {
  const message = $("#batch-error");
  message.textContent = error.status === 404 ? t("batch.not_found", { id: batchId }) : errorTitle(error);
  message.hidden = false;
  $("#batch-progress").hidden = true;
  grid.setAttribute("aria-busy", "false");
}
