// Words the server keeps as ids and codes, shown in the page's language: providers' display
// names, models' descriptions, the names the service gave batches ("13 images") and the
// categories of task failures. The catalogue is asked first; the server's own text is the
// fallback, so a provider or model added later still shows something.
import { h } from "./dom.js";
import { t } from "./i18n.js";

// Catalogue keys per id, written out: ids carry "-" and capitals the catalogues' keys do not,
// and the catalogue test finds every key used by its literal here.
const PROVIDERS = {
  demo: "provider.demo",
  gemini: "provider.gemini",
  seedream: "provider.seedream",
  jimeng: "provider.jimeng",
  comfyui: "provider.comfyui",
  openai: "provider.openai",
  "openai-compatible": "provider.openai_compatible",
};

/** "<provider>/<model>", or "<provider>/*" for every model of a provider that names them freely. */
const MODELS = {
  "demo/demo": "model.demo",
  "gemini/gemini-2.5-flash-image": "model.gemini_flash",
  "gemini/gemini-3-pro-image-preview": "model.gemini_pro",
  "jimeng/jimeng_t2i_v40": "model.jimeng_v40",
  "openai/*": "model.openai",
  "openai-compatible/*": "model.openai_compatible",
  "seedream/*": "model.seedream",
  "comfyui/*": "model.comfyui_workflow",
  // an edit-only ComfyUI workflow says what it needs
  "comfyui/*/edit": "model.comfyui_edit_workflow",
};

/** The codes of domain/batch_names.py. */
const BATCH_NAMES = {
  images: "batch_name.images",
  rows: "batch_name.rows",
  edit_of_image: "batch_name.edit_of_image",
};

/** Task failures by the provider error's class (errors.py), and the queue's own WorkerLost. */
const FAILURES = {
  ContentRejected: "failure.content_rejected",
  RateLimited: "failure.rate_limited",
  ProviderTimeout: "failure.timed_out",
  InvalidRequest: "failure.invalid_request",
  ProviderUnavailable: "failure.provider_unavailable",
  ConnectionFailed: "failure.connection_failed",
  AuthFailed: "failure.auth_failed",
  QuotaExhausted: "failure.quota_exhausted",
  WorkerLost: "failure.worker_lost",
  Cancelled: "failure.cancelled",
};

/** "即梦" / "Jimeng" for "jimeng"; an unknown provider by its id. */
export const providerName = (id) => (PROVIDERS[id] ? t(PROVIDERS[id]) : id);

/** For selectors and tables: the display name beside the id ("即梦 · jimeng"). */
export function providerLabel(id) {
  const name = providerName(id);
  return name === id ? id : `${name} · ${id}`;
}

/** "即梦 · jimeng_t2i_v40": who made an image, for cards, the lightbox and lists. */
export const providerAndModel = (provider, model) => `${providerName(provider)} · ${model}`;

/** A model's description (`caps` from /api/config) in the page's language, else the server's. */
export function modelDescription(provider, caps) {
  const editOnly = caps.modes?.length === 1 && caps.modes[0] === "edit";
  const key = (editOnly && MODELS[`${provider}/*/edit`]) || MODELS[`${provider}/${caps.name}`] || MODELS[`${provider}/*`];
  return key ? t(key) : caps.description ?? "";
}

/** A batch's name: rebuilt in the page's language when the service gave it, else as written. */
export function batchName(batch) {
  const key = BATCH_NAMES[batch.name_code];
  return key ? t(key, batch.name_params || {}) : batch.name;
}

/** The same for a history record, which carries its batch's name beside its own fields. */
export function recordBatchName(record) {
  return batchName({ name: record.batch_name, name_code: record.batch_name_code, name_params: record.batch_name_params });
}

/** "内容被拒绝" for "ContentRejected"; a kind the catalogue lacks reads as a plain failure. */
export const failureLabel = (kind) => t(FAILURES[kind] || "failure.other");

/** A task's or record's failure category: its error's, or "cancelled" for a cancelled one. */
export const failureKind = (item) => (item.status === "cancelled" ? "Cancelled" : item.error_kind);

/**
 * Why a task failed: the category in the page's language, then the provider's own words
 * (translate="no": they are quoted, in whatever language the provider wrote them).
 */
export function failureNote(kind, message, { className = "task-error" } = {}) {
  if (!kind && !message) return null;
  return h("p", { class: className },
    h("strong", { class: "failure-kind", text: failureLabel(kind) }),
    message ? t("failure.separator") : null,
    message ? h("span", { class: "failure-words", title: message, attrs: { translate: "no" }, text: message }) : null);
}
