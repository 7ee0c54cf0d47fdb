// 批量生图 / Generate: a prompt template with {variables} (one value per line each), a
// count, optional reference images; the expanded prompts are previewed as you type.
import { api } from "./api.js";
import { ReferenceField } from "./assets.js";
import { $, debounce, h } from "./dom.js";
import { formatNumber, t } from "./i18n.js";
import { translateIssue } from "./messages.js";

/** A variable's values: one a line, blank lines left out. */
function valueLines(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}

/** {from, to} when exactly one variable changed its name in place (the others kept theirs)
 * and the new name has no values of its own, else null: its values then move along. */
function renamedVariable(before, after, kept) {
  if (before.length !== after.length) return null;
  const changed = after.map((name, index) => index).filter((index) => before[index] !== after[index]);
  if (changed.length !== 1) return null;
  const [from, to] = [before[changed[0]], after[changed[0]]];
  return kept[from] && !kept[to] && !after.includes(from) ? { from, to } : null;
}

export class GenerateMode {
  constructor({ onChange, presetId }) {
    this.onChange = onChange;
    this.presetId = presetId;
    this.prompt = $("#gen-prompt");
    this.count = $("#gen-count");
    this.variablesBox = $("#gen-variables");
    this.summary = $("#gen-preview-summary");
    this.list = $("#gen-preview-list");
    this.refs = new ReferenceField($("#gen-refs"), { onChange });
    const later = debounce(() => this.preview(), 250);
    // Until the preview answers, the form's variables may be stale: no estimate meanwhile.
    this.previewSoon = () => {
      this.fresh = false;
      later();
    };
    this.fresh = true;
    this.prompt.addEventListener("input", this.previewSoon);
    this.count.addEventListener("input", this.previewSoon);
    this.variablesBox.addEventListener("input", this.previewSoon);
    if (this.prompt.value) this.previewSoon(); // typed before this script ran, or restored
    this.names = [];
    this.lastNames = [];
    /** Values by variable name, including names the template lost for a moment. */
    this.kept = {};
    this.issues = [];
    this.abort = null;
  }

  applyCaps(caps) {
    this.refs.setMax(caps ? caps.max_reference_images : 0);
  }

  settingsChanged() {
    this.previewSoon();
  }

  variables() {
    const values = {};
    for (const area of this.variablesBox.querySelectorAll("textarea")) {
      values[area.dataset.name] = valueLines(area.value);
    }
    return values;
  }

  countValue() {
    return Math.min(Math.max(Number(this.count.value) || 1, 1), 100);
  }

  renderVariables(names) {
    if (names.join("\n") === this.names.join("\n")) return;
    this.keepValues();
    // A template whose braces are being edited has no variables for a moment: a rename is
    // told from the names before that moment.
    const renamed = renamedVariable(this.names.length ? this.names : this.lastNames, names, this.kept);
    if (renamed) {
      this.kept[renamed.to] = this.kept[renamed.from];
      delete this.kept[renamed.from];
    }
    if (this.names.length) this.lastNames = this.names;
    this.names = names;
    this.variablesBox.replaceChildren(...names.map((name, index) =>
      h("label", { class: "field variable" },
        h("span", { text: t("generate.values_of", { name: `{${name}}` }) }),
        h("textarea", { rows: 3, id: `gen-var-${index}`, dataset: { name }, value: this.kept[name] ?? "", placeholder: t("generate.values_placeholder") }))));
  }

  /** Every value typed so far, by variable name (kept while the name is gone from the
   * template: a half-typed brace must not wipe what was entered). */
  keepValues() {
    for (const area of this.variablesBox.querySelectorAll("textarea")) {
      if (area.value.trim()) this.kept[area.dataset.name] = area.value;
      else delete this.kept[area.dataset.name];
    }
  }

  async preview() {
    this.abort?.abort();
    this.abort = new AbortController();
    // The kept values too: a name back from a brace edit gets its box only with this answer.
    this.keepValues();
    const variables = Object.fromEntries(Object.entries(this.kept).map(([name, text]) => [name, valueLines(text)]));
    const body = { prompt: this.prompt.value, variables, count: this.countValue(), preset_id: this.presetId() };
    try {
      const answer = await api("/api/prompts/preview", { method: "POST", json: body, signal: this.abort.signal });
      this.renderVariables(answer.variables);
      // A rename moved values to a name this request did not send: ask again with them.
      if (this.names.some((name) => this.kept[name] && !variables[name])) return this.preview();
      this.issues = answer.issues;
      if (answer.issues.length) this.showIssues(answer.issues);
      else this.showPreview(answer);
      this.fresh = true;
    } catch (error) {
      if (error.name === "AbortError") return;
      this.showIssues(error.issues?.length ? error.issues : [{ where: "", problem: error.message }]);
    }
    this.onChange();
  }

  showIssues(issues) {
    this.summary.textContent = issues.map((i) => translateIssue(i) ?? (i.where ? `${i.where}: ${i.problem}` : i.problem)).join("; ");
    this.summary.classList.add("bad");
    this.list.replaceChildren();
  }

  showPreview(answer) {
    this.summary.classList.remove("bad");
    const waiting = this.names.filter((name) => !(this.variables()[name] || []).length);
    if (!this.prompt.value.trim() && !this.presetId()) {
      this.summary.textContent = t("generate.preview_empty");
    } else if (waiting.length) {
      this.summary.textContent = t("generate.preview_waiting", { names: waiting.map((n) => `{${n}}`).join(", ") });
    } else {
      this.summary.textContent = t("generate.preview_summary", { prompts: formatNumber(answer.total), count: this.countValue(), tasks: formatNumber(answer.tasks) });
    }
    const items = answer.prompts.map((text) => h("li", { text }));
    if (answer.total > answer.prompts.length) items.push(h("li", { class: "muted more", text: t("generate.preview_more", { n: formatNumber(answer.total - answer.prompts.length) }) }));
    this.list.replaceChildren(...items);
  }

  /** Why the batch cannot go yet (a message), or null. */
  problem() {
    if (!this.fresh) return t("generate.previewing");
    if (!this.prompt.value.trim() && !this.presetId()) return t("generate.need_prompt");
    const empty = this.names.filter((name) => !(this.variables()[name] || []).length);
    if (empty.length) return t("generate.need_values", { names: empty.map((n) => `{${n}}`).join(", ") });
    if (this.issues.length) return translateIssue(this.issues[0]) ?? this.issues[0].problem;
    return null;
  }

  focusProblem() {
    this.prompt.focus();
  }

  payload(options) {
    const body = { ...options, prompt: this.prompt.value, count: this.countValue() };
    const variables = this.variables();
    if (Object.keys(variables).length) body.variables = variables;
    if (this.refs.references.length) body.reference_images = this.refs.references;
    if (!body.prompt.trim()) body.prompt = "";
    return body;
  }

  estimate(options, signal) {
    return api("/api/batches?dry_run=true", { method: "POST", json: this.payload(options), signal });
  }

  submit(options) {
    return api("/api/batches", { method: "POST", json: this.payload(options) });
  }
}
