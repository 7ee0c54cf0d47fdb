// What the server offers (GET /api/config, /api/presets) and the pickers built on it: a
// provider/model picker that disables what a model cannot do, and the preset picker.
import { api } from "./api.js";
import { h } from "./dom.js";
import { formatCredits, t } from "./i18n.js";
import { modelDescription, providerLabel } from "./names.js";

const MODE_KEYS = { generate: "mode.generate", edit: "mode.edit" };

let config;
let presets;

export async function loadConfig() {
  config ??= await api("/api/config");
  return config;
}

export async function loadPresets() {
  presets ??= await api("/api/presets");
  return presets;
}

/** The longest prompt (or negative prompt) the server takes: IMAGEBATCH_MAX_PROMPT_CHARS. */
export const promptMaxLength = () => config.limits.max_prompt_chars;

export function providerOf(name) {
  return config.providers.find((provider) => provider.name === name);
}

/** A model's capabilities; the provider's default model when `model` is empty. */
export function capsOf(providerName, modelName) {
  const provider = providerOf(providerName);
  if (!provider) return null;
  const name = modelName || provider.default_model;
  return provider.models.find((model) => model.name === name) || (provider.any_model ? provider.models[0] : null);
}

/** Provider and model <select>s; models lacking `mode` (generate/edit) are disabled. */
export class ModelPicker {
  constructor(providerSelect, modelSelect, { onChange = () => {}, describe = null } = {}) {
    this.providerSelect = providerSelect;
    this.modelSelect = modelSelect;
    this.onChange = onChange;
    this.describe = describe;
    this.mode = "generate";
    providerSelect.addEventListener("change", () => {
      this.fillModels();
      this.changed();
    });
    modelSelect.addEventListener("change", () => this.changed());
    this.fillProviders();
    this.fillModels();
    this.showDescription();
  }

  fillProviders() {
    const options = config.providers.map((provider) =>
      h("option", {
        value: provider.name,
        disabled: !provider.configured,
        text: provider.configured ? providerLabel(provider.name) : t("picker.not_configured", { name: providerLabel(provider.name) }),
      }),
    );
    this.providerSelect.replaceChildren(...options);
    const first = config.providers.find((p) => p.name === "demo" && p.configured) || config.providers.find((p) => p.configured);
    if (first) this.providerSelect.value = first.name;
  }

  fillModels() {
    const provider = providerOf(this.providerSelect.value);
    const previous = this.modelSelect.value;
    const options = (provider?.models || []).map((model) => {
      const usable = model.modes.includes(this.mode);
      return h("option", {
        value: model.name,
        disabled: !usable,
        text: usable ? model.name : t("picker.cannot_mode", { name: model.name, mode: t(MODE_KEYS[this.mode]) }),
      });
    });
    this.modelSelect.replaceChildren(...options);
    const keep = provider?.models.find((m) => m.name === previous && m.modes.includes(this.mode));
    const fallback = provider?.models.find((m) => m.default && m.modes.includes(this.mode)) || provider?.models.find((m) => m.modes.includes(this.mode));
    this.modelSelect.value = (keep || fallback || { name: "" }).name;
  }

  setMode(mode) {
    this.mode = mode;
    this.fillModels();
    this.changed();
  }

  changed() {
    this.showDescription();
    this.onChange(this.caps);
  }

  showDescription() {
    if (!this.describe) return;
    const caps = this.caps;
    this.describe.textContent = caps
      ? `${modelDescription(this.providerSelect.value, caps)} ${t("picker.price", { price: formatCredits(caps.price_per_image) })}`
      : "";
  }

  get value() {
    return { provider: this.providerSelect.value, model: this.modelSelect.value || null };
  }

  get caps() {
    return capsOf(this.providerSelect.value, this.modelSelect.value);
  }
}

/** Fill a <select> of aspect ratios or resolutions, disabling what `allowed` lacks. */
export function fillChoices(select, values, allowed, defaultLabel = t("settings.default")) {
  const current = select.value;
  const options = [h("option", { value: "", text: defaultLabel })];
  for (const value of values) {
    const usable = !allowed || allowed.includes(value);
    options.push(h("option", { value, disabled: !usable, text: usable ? value : t("picker.unsupported_value", { value }) }));
  }
  select.replaceChildren(...options);
  select.value = !allowed || allowed.includes(current) ? current : "";
}

/** The preset <select>: active presets grouped by category; shows the chosen one's text. */
export function presetPicker(select, preview, onChange = () => {}) {
  const groups = new Map();
  for (const preset of presets) {
    const key = preset.category || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(preset);
  }
  const none = h("option", { value: "", text: t("settings.preset_none") });
  const children = [none];
  for (const [category, items] of groups) {
    const options = items.map((p) => h("option", { value: String(p.id), text: p.title }));
    children.push(category ? h("optgroup", { label: category }, options) : options);
  }
  select.replaceChildren(...children.flat());
  const show = () => {
    const chosen = presets.find((p) => String(p.id) === select.value);
    preview.textContent = chosen ? chosen.content : "";
    preview.hidden = !chosen;
    return chosen || null;
  };
  select.addEventListener("change", () => onChange(show()));
  show();
  return () => (select.value ? Number(select.value) : null);
}
