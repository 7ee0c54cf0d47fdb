// Admin settings: concurrency, retries, upload and batch limits, fair use per user (unfinished
// tasks, live streams), retention, refund policy.
// Saved with PUT /api/admin/settings; workers pick the change up at once.
import { api, errorTitle, showIssues } from "../lib/api.js";
import { $, toast } from "../lib/dom.js";
import { t } from "../lib/i18n.js";
import { refreshCredits } from "../lib/shell.js";

const form = $("#settings-form");
const issues = $("#settings-issues");
const MB = 1024 * 1024;
const NUMBERS = [
  "global_concurrency",
  "max_attempts",
  "max_upload_files",
  "max_tasks_per_batch",
  "max_active_tasks_per_user",
  "max_event_streams_per_user",
  "retention_days",
];

function show(settings) {
  for (const name of NUMBERS) $(`#set-${name}`).value = settings[name];
  $("#set-max_image_mb").value = Math.round((settings.max_image_bytes / MB) * 1000) / 1000;
  $("#set-refund_policy").value = settings.refund_policy;
  form.setAttribute("aria-busy", "false");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const input of form.querySelectorAll("input")) {
    if (!input.checkValidity()) {
      showIssues(issues, { message: `${input.labels[0].textContent}: ${input.validationMessage}` });
      return input.focus();
    }
  }
  const body = Object.fromEntries(NUMBERS.map((name) => [name, Number($(`#set-${name}`).value)]));
  body.max_image_bytes = Math.round(Number($("#set-max_image_mb").value) * MB);
  body.refund_policy = $("#set-refund_policy").value;
  const button = $("#settings-save");
  button.disabled = true;
  try {
    show(await api("/api/admin/settings", { method: "PUT", json: body }));
    showIssues(issues, null);
    toast(t("settings.saved"), "success");
  } catch (error) {
    showIssues(issues, { ...error, message: errorTitle(error) });
  } finally {
    button.disabled = false;
  }
});

api("/api/admin/settings").then(show).catch((error) => toast(errorTitle(error), "error"));
refreshCredits().catch(() => {});
