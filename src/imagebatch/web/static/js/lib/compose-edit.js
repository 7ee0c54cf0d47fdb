// 批量改图 / Edit: many images (dropped, a whole folder, or picked) checked here first
// (type, size) with a thumbnail each, then by the server (a dry run decodes each file as the
// batch will: a .png that is no picture is refused before it is counted); one prompt for
// all; uploaded with progress.
import { api, upload } from "./api.js";
import { $, h } from "./dom.js";
import { formatBytes, formatNumber, lang, t } from "./i18n.js";
import { serverWords, translateIssue } from "./messages.js";

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/heic", "image/heif"]);
const IMAGE_EXTENSIONS = /\.(jpe?g|png|gif|webp|bmp|heic|heif)$/i;
const PREVIEWABLE = /^image\/(jpeg|png|gif|webp|bmp)$/;
// The files are what a check asks about; a dry run wants a prompt, and any will do.
const CHECK_PROMPT = "check the uploaded images";

/** Why the server refuses a file, in the page's language (its own words as a fallback). */
function refusal(issue) {
  if (lang === "en") return issue.problem;
  return translateIssue(issue) || t("edit.refused");
}

/** Every file under a dropped entry (folders are walked; readEntries gives ≤100 a call). */
async function filesOf(entry, path = "") {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [{ file, path: path + file.name }];
  }
  const reader = entry.createReader();
  const found = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const child of batch) found.push(...(await filesOf(child, `${path}${entry.name}/`)));
  }
  return found;
}

/** A name for the upload: the file name, with its sub-folders when it came from a folder
 * (the server keys files by name, and two folders may hold the same name). */
function uploadName(path) {
  const parts = path.split("/").filter(Boolean);
  return parts.length > 2 ? parts.slice(1).join("_") : parts[parts.length - 1];
}

export class EditMode {
  constructor({ onChange, presetId, limits, priceShare, batchSettings }) {
    this.onChange = onChange;
    this.batchSettings = batchSettings;
    this.priceShare = priceShare;
    this.presetId = presetId;
    this.limits = limits;
    this.items = [];
    this.prompt = $("#edit-prompt");
    this.count = $("#edit-count");
    this.list = $("#edit-list");
    this.summary = $("#edit-summary");
    this.clearButton = $("#edit-clear");
    this.progressWrap = $("#edit-progress-wrap");
    this.progress = $("#edit-progress");
    const files = $("#edit-files");
    const folder = $("#edit-folder");
    $("#edit-pick-files").addEventListener("click", () => files.click());
    $("#edit-pick-folder").addEventListener("click", () => folder.click());
    for (const input of [files, folder]) {
      input.addEventListener("change", () => {
        this.add([...input.files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
        input.value = "";
      });
    }
    this.clearButton.addEventListener("click", () => this.clear());
    this.listenForDrops($("#edit-drop"));
  }

  listenForDrops(zone) {
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", async (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
      if (entries.length) {
        const found = await Promise.all(entries.map((entry) => filesOf(entry)));
        this.add(found.flat());
      } else {
        this.add([...event.dataTransfer.files].map((file) => ({ file, path: file.name })));
      }
    });
  }

  problemOf(file) {
    const typeOk = IMAGE_TYPES.has(file.type) || (!file.type && IMAGE_EXTENSIONS.test(file.name)) || IMAGE_EXTENSIONS.test(file.name);
    if (!typeOk) return t("edit.wrong_type", { type: file.type || file.name.split(".").pop() || "?" });
    if (file.size > this.limits.max_image_bytes) return t("edit.too_large", { size: formatBytes(file.size), limit: formatBytes(this.limits.max_image_bytes) });
    if (file.size === 0) return t("edit.empty_file");
    return null;
  }

  add(found) {
    const seen = new Set(this.items.map((item) => item.path));
    const added = [];
    for (const { file, path } of found) {
      if (seen.has(path) || file.name.startsWith(".")) continue;
      seen.add(path);
      const problem = this.problemOf(file);
      const url = !problem && PREVIEWABLE.test(file.type) ? URL.createObjectURL(file) : null;
      const item = { file, path, name: uploadName(path), problem, url, checking: !problem };
      this.items.push(item);
      if (!problem) added.push(item);
    }
    this.render();
    this.onChange();
    this.check(added);
  }

  /** Ask the server about files that passed the checks here, as many at a time as one
   * upload may hold; until it answers they are neither counted nor sendable. */
  async check(items) {
    const size = Math.max(1, this.limits.max_upload_files);
    await Promise.all(Array.from({ length: Math.ceil(items.length / size) }, (_, index) =>
      this.checkSome(items.slice(index * size, (index + 1) * size))));
  }

  async checkSome(items) {
    const form = new FormData();
    const { provider, model } = this.batchSettings();
    if (provider) form.append("provider", provider);
    if (model) form.append("model", model);
    form.append("prompt", CHECK_PROMPT);
    for (const item of items) form.append("images", item.file, item.name);
    let refused = [];
    try {
      refused = (await api("/api/batches?dry_run=true", { method: "POST", form })).skipped;
    } catch (error) {
      // None usable: a 422 naming each file. Anything else (busy, offline) says nothing
      // about the files: they stay counted, and the batch itself leaves out what it refuses.
      if (error.status === 422) refused = error.issues;
    }
    for (const item of items) {
      const issue = refused.find((found) => found.where === item.name);
      item.checking = false;
      if (!issue) continue;
      item.problem = refusal(issue);
      item.serverWords = serverWords(issue);
      if (item.url) URL.revokeObjectURL(item.url);
      item.url = null;
    }
    this.render();
    this.onChange();
  }

  remove(item) {
    if (item.url) URL.revokeObjectURL(item.url);
    this.items.splice(this.items.indexOf(item), 1);
    this.render();
    this.onChange();
  }

  clear() {
    for (const item of this.items) if (item.url) URL.revokeObjectURL(item.url);
    this.items = [];
    this.render();
    this.onChange();
  }

  get usable() {
    return this.items.filter((item) => !item.problem && !item.checking);
  }

  get checking() {
    return this.items.filter((item) => item.checking).length;
  }

  render() {
    this.list.replaceChildren(...this.items.map((item) => {
      const picture = item.url
        ? h("img", { src: item.url, alt: "", loading: "lazy" })
        : h("span", { class: "file-placeholder", attrs: { "aria-hidden": "true" }, text: item.problem ? "!" : (item.file.name.split(".").pop() || "").toUpperCase() });
      const state = item.problem ? " has-error" : item.checking ? " checking" : "";
      const note = item.problem || (item.checking ? t("edit.checking") : formatBytes(item.file.size));
      return h("li", { class: `file-tile${state}`, title: item.serverWords ? `${item.path}: ${item.serverWords}` : item.path },
        picture,
        h("span", { class: "file-name", text: item.path }),
        h("span", { class: item.problem ? "file-error" : "file-size", text: note }),
        h("button", { type: "button", class: "chip-remove", attrs: { "aria-label": t("edit.remove", { name: item.path }) }, text: "×", onclick: () => this.remove(item) }));
    }));
    const bad = this.items.length - this.usable.length - this.checking;
    const counts = { ok: formatNumber(this.usable.length), bad: formatNumber(bad), n: formatNumber(this.checking) };
    this.summary.textContent = !this.items.length ? t("edit.none")
      : this.checking ? t("edit.summary_checking", counts) : t("edit.summary", counts);
    this.summary.classList.toggle("bad", this.usable.length > this.limits.max_upload_files);
    this.clearButton.hidden = !this.items.length;
  }

  applyCaps() {}

  settingsChanged() {}

  countValue() {
    return Math.min(Math.max(Number(this.count.value) || 1, 1), 10);
  }

  problem() {
    if (this.checking) return t("edit.checking_files", { n: formatNumber(this.checking) });
    if (!this.usable.length) return t("edit.need_files");
    if (this.usable.length > this.limits.max_upload_files) return t("edit.too_many", { max: this.limits.max_upload_files });
    if (!this.prompt.value.trim() && !this.presetId()) return t("edit.need_prompt");
    return null;
  }

  focusProblem() {
    (this.usable.length ? this.prompt : $("#edit-pick-files")).focus();
  }

  /** The cost is known without uploading: images × count × the model's price, × the share
   * paid (economy's discount, nothing on your own key). */
  async estimate(options, _signal, caps, credits) {
    const tasks = this.usable.length * this.countValue();
    const full = tasks * (caps ? caps.price_per_image : 0);
    const total = full * this.priceShare();
    return { tasks, estimate: { total, saving: options.economy ? full - total : 0, lines: [], reused: 0 }, credits };
  }

  async submit(options) {
    const form = new FormData();
    for (const [name, value] of Object.entries(options)) form.append(name, String(value));
    form.append("prompt", this.prompt.value);
    form.append("count", String(this.countValue()));
    for (const item of this.usable) form.append("images", item.file, item.name);
    this.progressWrap.hidden = false;
    this.progress.value = 0;
    try {
      return await upload("/api/batches", form, (share) => {
        this.progress.value = Math.round(share * 100);
      });
    } finally {
      this.progressWrap.hidden = true;
    }
  }
}
