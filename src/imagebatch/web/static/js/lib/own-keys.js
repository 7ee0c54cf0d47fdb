// Your own provider API keys (BYOK), one row per provider that takes them: save, replace
// or remove; a saved key shows only its last four characters (the server never returns more).
import { api, errorTitle, showIssues } from "./api.js";
import { confirmDialog, h, toast } from "./dom.js";
import { formatDate, t } from "./i18n.js";
import { providerLabel } from "./names.js";

export class OwnKeys {
  /** providers: /api/config providers whose `own_keys` is true. */
  constructor(list, empty, providers) {
    this.list = list;
    this.empty = empty;
    this.providers = providers;
  }

  async load() {
    const saved = new Map((await api("/api/auth/provider-keys")).map((key) => [key.provider, key]));
    this.list.replaceChildren(...this.providers.map((provider) => this.row(provider.name, saved.get(provider.name))));
    this.list.setAttribute("aria-busy", "false");
    this.empty.hidden = this.providers.length > 0;
  }

  row(provider, key) {
    const input = h("input", { type: "password", class: "secret grow", autocomplete: "off", spellcheck: false, placeholder: key ? t("keys.replace_placeholder") : t("keys.placeholder"), attrs: { "aria-label": t("keys.input", { provider }) } });
    const issues = h("ul", { class: "issues", hidden: true });
    const state = key
      ? h("span", { class: "key-state ok", dataset: { last4: key.last4 } }, h("code", { text: `•••• ${key.last4}` }), " ", h("span", { class: "muted small", text: t("keys.saved_at", { date: formatDate(key.created_at) }) }))
      : h("span", { class: "key-state muted", text: t("keys.not_set") });
    const save = h("button", { type: "submit", class: "btn btn-primary", text: key ? t("keys.replace") : t("common.save"), attrs: { "aria-label": t(key ? "keys.replace_n" : "keys.save_n", { provider }) } });
    const remove = key && h("button", { type: "button", class: "btn btn-danger-text", text: t("keys.remove"), attrs: { "aria-label": t("keys.remove_n", { provider }) }, onclick: () => this.remove(provider) });
    const form = h("form", { class: "row-fields align-end", noValidate: true }, input, save, remove);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save(provider, input, issues);
    });
    return h("div", { class: "key-row stack", dataset: { provider } },
      h("div", { class: "section-head" }, h("h3", { class: "h4", text: providerLabel(provider) }), state), form, issues);
  }

  async save(provider, input, issues) {
    const value = input.value.trim();
    if (value.length < 8) {
      showIssues(issues, { message: t("keys.too_short") });
      return input.focus();
    }
    try {
      await api(`/api/auth/provider-keys/${encodeURIComponent(provider)}`, { method: "PUT", json: { api_key: value } });
      toast(t("keys.saved", { provider }), "success");
      await this.load();
    } catch (error) {
      showIssues(issues, { ...error, message: errorTitle(error) });
    }
  }

  async remove(provider) {
    if (!(await confirmDialog(t("keys.remove_confirm", { provider }), { confirm: t("keys.remove"), danger: true }))) return;
    try {
      await api(`/api/auth/provider-keys/${encodeURIComponent(provider)}`, { method: "DELETE" });
      toast(t("keys.removed", { provider }), "success");
      await this.load();
    } catch (error) {
      toast(errorTitle(error), "error");
    }
  }
}
