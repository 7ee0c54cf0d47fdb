// Status names in the page's language, and the badges that show them.
import { $$, h } from "./dom.js";
import { t } from "./i18n.js";

const TASK = {
  pending: "status.pending",
  running: "status.running",
  succeeded: "status.succeeded",
  failed: "status.failed",
  cancelled: "status.cancelled",
};
const BATCH = {
  queued: "bstatus.queued",
  running: "bstatus.running",
  paused: "bstatus.paused",
  completed: "bstatus.completed",
  completed_with_failures: "bstatus.completed_with_failures",
  cancelled: "bstatus.cancelled",
};
export const ACTIVE_BATCH = new Set(["queued", "running", "paused"]);
export const FINISHED_BATCH = new Set(["completed", "completed_with_failures", "cancelled"]);

export const taskStatusLabel = (status) => t(TASK[status] || status);
export const batchStatusLabel = (status) => t(BATCH[status] || status);

export function batchBadge(status) {
  return h("span", { class: `badge badge-${status}`, text: batchStatusLabel(status) });
}

export function taskBadge(status) {
  return h("span", { class: `badge badge-${status}`, text: taskStatusLabel(status) });
}

export function applyBatchBadge(element, status) {
  element.className = `badge badge-${status}`;
  element.textContent = batchStatusLabel(status);
  element.hidden = false;
}

/** The status filter chips (templates/_status_filters.html): the one clicked is pressed,
 * and `pick` gets its status ("" for every batch). */
export function onStatusFilter(group, pick) {
  const chips = $$(".chip", group);
  for (const chip of chips) {
    chip.addEventListener("click", () => {
      for (const other of chips) other.setAttribute("aria-pressed", String(other === chip));
      pick(chip.dataset.filter);
    });
  }
}
