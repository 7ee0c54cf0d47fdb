// 表格 / Table: an editable grid with the task-table columns (add, duplicate, delete rows),
// reference images per row from the asset library, Excel/CSV import, the template, and
// export of the grid as XLSX. Submitted as JSON rows, checked exactly as a table file is.
import { api, errorTitle, showIssues } from "./api.js";
import { ReferenceField } from "./assets.js";
import { capsOf, fillChoices, loadConfig, promptMaxLength } from "./catalog.js";
import { $, confirmDialog, h, toast } from "./dom.js";
import { formatNumber, lang, t } from "./i18n.js";
import { providerLabel } from "./names.js";
import { CellMarks } from "./table-marks.js";

const FIELDS = ["prompt", "negative_prompt", "aspect_ratio", "resolution", "count", "filename", "reference_images", "seed", "provider", "model"];
const LABELS = {
  prompt: "col.prompt",
  negative_prompt: "col.negative_prompt",
  aspect_ratio: "col.aspect_ratio",
  resolution: "col.resolution",
  count: "col.count",
  filename: "col.filename",
  reference_images: "col.reference_images",
  seed: "col.seed",
  provider: "col.provider",
  model: "col.model",
};
const tableLang = () => (lang === "zh-CN" ? "zh" : "en");

function blankRow() {
  return { prompt: "", negative_prompt: "", aspect_ratio: "", resolution: "", count: "", filename: "", reference_images: [], seed: "", provider: "", model: "" };
}

function rowFromFile(values) {
  const row = blankRow();
  for (const [key, value] of Object.entries(values)) {
    if (key === "reference_images") row.reference_images = value.split(/[;；\r\n]+/).map((v) => v.trim()).filter(Boolean).map((text) => ({ text }));
    else if (key in row) row[key] = value;
  }
  return row;
}

/** A cell the server takes as a number; anything else goes as typed, for it to name. */
function isNumber(value) {
  return /^\s*-?\d+\s*$/.test(String(value));
}

export class TableMode {
  constructor({ onChange, batchSettings }) {
    this.onChange = onChange;
    this.batchSettings = batchSettings;
    this.rows = [blankRow()];
    this.marks = new CellMarks();
    /** The rows the last estimate or submit sent, in order: the server's row numbers. */
    this.sent = [];
    this.body = $("#table-body");
    this.summary = $("#table-summary");
    $("#table-add").addEventListener("click", () => this.addRow());
    const file = $("#table-file");
    $("#table-import").addEventListener("click", () => file.click());
    file.addEventListener("change", () => {
      if (file.files[0]) this.importFile(file.files[0]);
      file.value = "";
    });
    $("#table-export").addEventListener("click", () => this.exportRows());
  }

  addRow(after = this.rows.length - 1, row = blankRow()) {
    this.rows.splice(after + 1, 0, row);
    this.render();
    this.body.rows[after + 1]?.querySelector("textarea")?.focus();
    this.onChange();
  }

  duplicate(index) {
    const copy = structuredClone({ ...this.rows[index], reference_images: [] });
    copy.reference_images = [...this.rows[index].reference_images];
    this.addRow(index, copy);
  }

  removeRow(index) {
    this.rows.splice(index, 1);
    if (!this.rows.length) this.rows.push(blankRow());
    this.render();
    const focus = this.body.rows[Math.min(index, this.rows.length - 1)];
    focus?.querySelector("textarea")?.focus();
    this.onChange();
  }

  filled() {
    return this.rows.filter((row) => FIELDS.some((key) => (key === "reference_images" ? row[key].length : String(row[key]).trim())));
  }

  render() {
    this.body.replaceChildren(...this.rows.map((row, index) => this.renderRow(row, index)));
    this.marks.apply(this.body, this.rows);
    this.showSummary();
  }

  /** Rows and images of the rows the server accepts; the rows it refuses are counted apart. */
  showSummary() {
    const rows = this.filled().filter((row) => !this.marks.isBad(row));
    const tasks = rows.reduce((sum, row) => sum + (Number(row.count) || 1), 0);
    const counts = { rows: formatNumber(rows.length), tasks: formatNumber(tasks), bad: formatNumber(this.marks.badRows) };
    this.summary.textContent = t(this.marks.badRows ? "table.summary_bad" : "table.summary", counts);
    this.summary.classList.toggle("bad", this.marks.badRows > 0);
  }

  /** The server's verdict on the rows sent (null: all good): their bad cells are marked,
   * and with `scroll` the first comes into view and takes the focus. */
  showErrors(error, { scroll = false } = {}) {
    const whereOf = (row, key) => `row ${this.rows.indexOf(row) + 1}, column ${t(LABELS[key])}`;
    this.marks = CellMarks.of(error, this.sent, FIELDS, whereOf);
    this.marks.apply(this.body, this.rows);
    this.showSummary();
    if (scroll || this.scrollPending) this.focusProblem();
    this.scrollPending = false;
  }

  renderRow(row, index) {
    const number = index + 1;
    const label = (key) => `${t(LABELS[key])}, ${t("table.row_n", { n: number })}`;
    const set = (key) => (event) => {
      row[key] = event.target.value;
      this.showSummary();
    };
    const caps = capsOf(row.provider || this.batchSettings().provider, row.model || (row.provider ? "" : this.batchSettings().model));
    const config = this.config;
    const aspect = h("select", { attrs: { "aria-label": label("aspect_ratio") }, onchange: set("aspect_ratio") });
    fillChoices(aspect, config.aspect_ratios, caps?.aspect_ratios, t("table.batch_default"));
    aspect.value = row.aspect_ratio;
    const resolution = h("select", { attrs: { "aria-label": label("resolution") }, onchange: set("resolution") });
    fillChoices(resolution, config.resolutions, caps?.resolutions, t("table.batch_default"));
    resolution.value = String(row.resolution).toUpperCase();
    const provider = h("select", { attrs: { "aria-label": label("provider") } },
      h("option", { value: "", text: t("table.batch_default") }),
      config.providers.map((p) => h("option", { value: p.name, disabled: !p.configured, text: providerLabel(p.name) })));
    provider.value = row.provider;
    provider.addEventListener("change", () => {
      row.provider = provider.value;
      row.model = "";
      this.refreshRow(index, "provider");
      this.onChange();
    });
    const model = h("select", { attrs: { "aria-label": label("model") }, onchange: (event) => { row.model = event.target.value; this.refreshRow(index, "model"); this.onChange(); } },
      h("option", { value: "", text: t("table.batch_default") }),
      (config.providers.find((p) => p.name === row.provider)?.models || []).map((m) => h("option", { value: m.name, text: m.name })));
    model.value = row.model;
    const refsBox = h("div", { class: "refs refs-compact" });
    const refs = new ReferenceField(refsBox, { max: caps ? caps.max_reference_images : 4, compact: true, onChange: () => { row.reference_images = refs.items; this.onChange(); } });
    refs.setReferences(row.reference_images);
    return h("tr", {},
      h("th", { scope: "row", class: "col-num", text: String(number) }),
      h("td", { dataset: { key: "prompt" } }, h("textarea", { rows: 2, value: row.prompt, maxLength: promptMaxLength(), attrs: { "aria-label": label("prompt") }, oninput: set("prompt") })),
      h("td", { dataset: { key: "negative_prompt" } }, h("input", { value: row.negative_prompt, maxLength: promptMaxLength(), disabled: caps && !caps.negative_prompt && !row.negative_prompt, title: caps && !caps.negative_prompt ? t("settings.unsupported") : "", attrs: { "aria-label": label("negative_prompt") }, oninput: set("negative_prompt") })),
      h("td", { dataset: { key: "aspect_ratio" } }, aspect),
      h("td", { dataset: { key: "resolution" } }, resolution),
      h("td", { dataset: { key: "count" } }, h("input", { type: "number", min: 1, max: 10, value: row.count, placeholder: "1", class: "input-small", attrs: { "aria-label": label("count") }, oninput: set("count") })),
      h("td", { dataset: { key: "filename" } }, h("input", { value: row.filename, maxLength: 200, attrs: { "aria-label": label("filename") }, oninput: set("filename") })),
      h("td", { dataset: { key: "reference_images" } }, refsBox),
      h("td", { dataset: { key: "seed" } }, h("input", { type: "number", min: 0, value: row.seed, class: "input-small", disabled: caps && !caps.seed && row.seed === "", attrs: { "aria-label": label("seed") }, oninput: set("seed") })),
      h("td", { dataset: { key: "provider" } }, provider),
      h("td", { dataset: { key: "model" } }, model),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-small btn-ghost", text: t("table.duplicate"), attrs: { "aria-label": t("table.duplicate_n", { n: number }) }, onclick: () => this.duplicate(index) }),
        h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", text: t("table.delete"), attrs: { "aria-label": t("table.delete_n", { n: number }) }, onclick: () => this.removeRow(index) })));
  }

  /** Draw one row again (its model changed what it can do), keeping the focus there. */
  refreshRow(index, key) {
    const fresh = this.renderRow(this.rows[index], index);
    this.body.rows[index].replaceWith(fresh);
    this.marks.apply(this.body, this.rows);
    fresh.querySelector(`[data-key="${key}"] select`)?.focus();
  }

  async activate() {
    this.config = await loadConfig();
    this.render();
  }

  applyCaps() {
    if (this.config) this.render();
  }

  settingsChanged() {}

  /** The grid as JSON rows: empty cells left out, numbers as numbers. */
  jsonRows() {
    return this.filled().map((row) => {
      const out = {};
      for (const key of FIELDS) {
        const value = row[key];
        if (key === "reference_images") {
          if (value.length) out[key] = value.map((item) => (item.text ? item.text : `asset:${item.id}`));
        } else if (String(value).trim() !== "") {
          out[key] = (key === "count" || key === "seed") && isNumber(value) ? Number(value) : value;
        }
      }
      return out;
    });
  }

  problem() {
    if (!this.filled().length) return t("table.need_rows");
    return null;
  }

  /** Why the batch cannot go as it is, beyond what stops an estimate: rows to fix. */
  submitProblem() {
    return this.marks.badRows ? t("table.fix_rows", { n: formatNumber(this.marks.badRows) }) : null;
  }

  focusProblem() {
    const cell = this.marks.first(this.body);
    if (!cell) return this.body.querySelector("textarea")?.focus();
    cell.scrollIntoView({ block: "center", inline: "center" });
    cell.querySelector("input, select, textarea")?.focus({ preventScroll: true });
  }

  payload(options) {
    this.sent = this.filled();
    return { ...options, rows: this.jsonRows() };
  }

  estimate(options, signal) {
    return api("/api/batches?dry_run=true", { method: "POST", json: this.payload(options), signal });
  }

  submit(options) {
    return api("/api/batches", { method: "POST", json: this.payload(options) });
  }

  async importFile(file) {
    const form = new FormData();
    form.append("table", file, file.name);
    try {
      const answer = await api("/api/tables/parse?partial=true", { method: "POST", form });
      showIssues($("#table-import-issues"), null);
      if (this.filled().length && !(await confirmDialog(t("table.replace_confirm", { n: this.filled().length }), { confirm: t("table.replace") }))) return;
      this.rows = answer.rows.map(rowFromFile);
      if (!this.rows.length) this.rows.push(blankRow());
      this.marks = new CellMarks();
      this.scrollPending = answer.issues.length > 0; // to the first bad cell, once marked
      this.render();
      this.onChange();
      const bad = new Set(answer.issues.map((issue) => issue.where.match(/^\S+ \d+/)?.[0])).size;
      if (bad) toast(t("table.imported_bad", { n: answer.rows.length, name: file.name, bad }), "error");
      else toast(t("table.imported", { n: answer.rows.length, name: file.name }), "success");
    } catch (error) {
      // Every issue in the panel (translated where lib/messages.js knows it), the gist in a toast.
      showIssues($("#table-import-issues"), { ...error, message: errorTitle(error) });
      toast(t("table.import_failed", { name: file.name }), "error"); // the reasons: #table-import-issues
    }
  }

  async exportRows() {
    try {
      const response = await api(`/api/tables/export?lang=${tableLang()}`, { method: "POST", json: { rows: this.jsonRows() }, raw: true });
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: lang === "zh-CN" ? "imagebatch-表格.xlsx" : "imagebatch-table.xlsx", hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      toast(errorTitle(error), "error");
    }
  }
}
