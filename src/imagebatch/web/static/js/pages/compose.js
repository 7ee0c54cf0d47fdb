// Compose: three modes (generate, edit, table) sharing one settings panel (preset,
// provider/model, economy mode, aspect ratio, resolution, negative prompt, seed, name), the
// cost estimate and the credit balance. The mode is kept in the URL's hash (#generate…).
import { api, errorTitle, showIssues } from "../lib/api.js";
import { ModelPicker, fillChoices, loadConfig, loadPresets, presetPicker, promptMaxLength, providerOf } from "../lib/catalog.js";
import { EditMode } from "../lib/compose-edit.js";
import { GenerateMode } from "../lib/compose-generate.js";
import { TableMode } from "../lib/compose-table.js";
import { $, $$, debounce, toast } from "../lib/dom.js";
import { formatCredits, formatList, formatNumber, t } from "../lib/i18n.js";
import { providerName } from "../lib/names.js";
import { showCredits } from "../lib/shell.js";

const [config, , ownKeyList] = await Promise.all([loadConfig(), loadPresets(), api("/api/auth/provider-keys")]);
for (const field of $$("[data-limit=prompt]")) field.maxLength = promptMaxLength();
/** Providers you saved your own key for: batches on them cost no credits. */
const ownKeys = new Set(ownKeyList.map((key) => key.provider));
showCredits(config.credits);
let credits = config.credits;
$("#est-balance").textContent = t("estimate.credits", { n: formatCredits(credits) });

const form = $("#compose-form");
const submitButton = $("#submit");
const aspect = $("#opt-aspect");
const resolution = $("#opt-resolution");
const negative = $("#opt-negative");
const seed = $("#opt-seed");
const economy = $("#opt-economy");
const presetId = presetPicker($("#opt-preset"), $("#opt-preset-content"), () => {
  modes.generate.previewSoon();
  changed();
});
const picker = new ModelPicker($("#opt-provider"), $("#opt-model"), {
  describe: $("#opt-model-desc"),
  onChange: (caps) => applyCaps(caps),
});

const context = {
  onChange: () => changed(),
  presetId,
  limits: config.limits,
  batchSettings: () => picker.value,
  priceShare: () => (ownKeys.has(picker.value.provider) ? 0 : 1 - economyDiscount()),
};
const modes = {
  generate: new GenerateMode(context),
  edit: new EditMode(context),
  table: new TableMode(context),
};
let current = "generate";

/** The chosen provider's batch discount when economy mode is on and possible, else 0. */
function economyDiscount() {
  return economy.checked && !economy.disabled ? providerOf(picker.value.provider)?.batch_discount || 0 : 0;
}

/** Economy mode where the provider runs batch jobs, not on your own key (which is free). */
function applyEconomy() {
  const name = picker.value.provider;
  const discount = providerOf(name)?.batch_discount;
  const ownKey = ownKeys.has(name);
  economy.disabled = ownKey || discount === null || discount === undefined;
  if (economy.disabled) economy.checked = false;
  const able = config.providers.filter((p) => p.batch_discount !== null && p.configured).map((p) => providerName(p.name));
  $("#opt-economy-hint").textContent = ownKey ? t("economy.own_key")
    : economy.disabled ? (able.length ? t("economy.unsupported", { providers: formatList(able) }) : t("economy.unsupported_none"))
      : t("economy.hint", { pct: Math.round(discount * 100) });
  $("#own-key-note").hidden = !ownKey;
  $("#own-key-note").textContent = ownKey ? t("estimate.own_key", { provider: providerName(name) }) : "";
}

function applyCaps(caps) {
  applyEconomy();
  fillChoices(aspect, config.aspect_ratios, caps?.aspect_ratios);
  fillChoices(resolution, config.resolutions, caps?.resolutions);
  negative.disabled = Boolean(caps && !caps.negative_prompt);
  $("#opt-negative-hint").hidden = !negative.disabled;
  seed.disabled = Boolean(caps && !caps.seed);
  seed.title = seed.disabled ? t("settings.unsupported") : "";
  for (const mode of Object.values(modes)) mode.applyCaps(caps);
  changed();
}

/** The batch-wide options, as BatchOptions fields (empty ones left out). */
function options() {
  const chosen = { ...picker.value };
  if (!chosen.model) delete chosen.model;
  if (aspect.value) chosen.aspect_ratio = aspect.value;
  if (resolution.value) chosen.resolution = resolution.value;
  if (!negative.disabled && negative.value.trim()) chosen.negative_prompt = negative.value;
  if (!seed.disabled && seed.value !== "") chosen.seed = Number(seed.value);
  if ($("#opt-name").value.trim()) chosen.name = $("#opt-name").value.trim();
  if (presetId()) chosen.preset_id = presetId();
  if (economy.checked && !economy.disabled) chosen.economy = true;
  return chosen;
}

// ---- tabs (arrow keys move between them, as the ARIA pattern says) ----
const tabs = $$('[role="tab"]');

function selectMode(mode, { focus = false } = {}) {
  if (!modes[mode]) mode = "generate";
  current = mode;
  for (const tab of tabs) {
    const selected = tab.dataset.mode === mode;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  if (location.hash !== `#${mode}`) history.replaceState(null, "", `#${mode}`);
  picker.setMode(mode === "edit" ? "edit" : "generate");
  modes[mode].activate?.();
  changed();
}

for (const tab of tabs) {
  tab.addEventListener("click", () => selectMode(tab.dataset.mode));
  tab.addEventListener("keydown", (event) => {
    const index = tabs.indexOf(tab);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step) {
      event.preventDefault();
      selectMode(tabs[(index + step + tabs.length) % tabs.length].dataset.mode, { focus: true });
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      selectMode(tabs[event.key === "Home" ? 0 : tabs.length - 1].dataset.mode, { focus: true });
    }
  });
}

// ---- estimate: cost, tasks and balance, refreshed as the form changes ----
let estimating = null;
const issues = $("#est-issues");

async function estimate() {
  estimating?.abort();
  estimating = new AbortController();
  const mode = modes[current];
  const problem = mode.problem();
  if (problem) return showEstimate(null, problem);
  try {
    const answer = await mode.estimate(options(), estimating.signal, picker.caps, credits);
    credits = answer.credits;
    showCredits(credits);
    mode.showErrors?.(null);
    showEstimate(answer, null);
  } catch (error) {
    if (error.name === "AbortError") return;
    mode.showErrors?.(error); // the table marks its bad cells
    showEstimate(null, null, error);
  }
}

function showEstimate(answer, problem, error = null) {
  $("#est-tasks").textContent = answer ? formatNumber(answer.tasks) : "–";
  $("#est-cost").textContent = answer ? t("estimate.credits", { n: formatCredits(answer.estimate.total) }) : "–";
  $("#est-balance").textContent = t("estimate.credits", { n: formatCredits(credits) });
  const saving = answer?.estimate.saving || 0;
  $("#est-saving-row").hidden = !(saving > 0);
  $("#est-saving").textContent = saving > 0 ? t("estimate.saving_value", { n: formatCredits(saving), pct: Math.round(100 * (answer.estimate.lines[0]?.discount || economyDiscount())) }) : "–";
  const short = answer && answer.estimate.total > credits;
  const warning = $("#est-warning");
  warning.hidden = !(short || problem);
  warning.classList.toggle("bad", Boolean(short));
  warning.textContent = short ? t("estimate.short", { n: formatCredits(answer.estimate.total - credits) }) : problem || "";
  if (error) showIssues(issues, { ...error, message: errorTitle(error) });
  else showIssues(issues, null);
  submitButton.disabled = Boolean(short);
}

const changed = debounce(estimate, 300);
form.addEventListener("input", (event) => {
  if (!event.target.closest("#panel-generate")) changed();
});
form.addEventListener("change", (event) => {
  if (!event.target.closest("#panel-generate")) changed();
});
window.addEventListener("hashchange", () => selectMode(location.hash.slice(1)));

// ---- submit ----
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const mode = modes[current];
  const problem = mode.problem() || mode.submitProblem?.();
  if (problem) {
    toast(problem, "error");
    mode.focusProblem();
    return;
  }
  submitButton.disabled = true;
  submitButton.textContent = t("compose.submitting");
  try {
    const created = await mode.submit(options());
    if (created.skipped?.length) sessionStorage.setItem(`ib-skipped-${created.batch.id}`, JSON.stringify(created.skipped));
    location.assign(`/batches/${created.batch.id}`);
  } catch (error) {
    submitButton.disabled = false;
    submitButton.textContent = t("compose.submit");
    mode.showErrors?.(error, { scroll: true });
    showIssues(issues, { ...error, message: errorTitle(error) });
    toast(errorTitle(error), "error");
  }
});

applyCaps(picker.caps);
selectMode(location.hash.slice(1) || "generate");
document.body.dataset.ready = "true";
