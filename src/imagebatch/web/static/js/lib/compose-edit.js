// 批量改图 / Edit: many images (dropped, a whole folder, or picked) checked here first
// (type, size) with a thumbnail each; one prompt for all; uploaded with progress.
import { upload } from "./api.js";
import { $, h } from "./dom.js";
import { formatBytes, formatNumber, t } from "./i18n.js";

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/heic", "image/heif"]);
const IMAGE_EXTENSIONS = /\.(jpe?g|png|gif|webp|bmp|heic|heif)$/i;
const PREVIEWABLE = /^image\/(jpeg|png|gif|webp|bmp)$/;

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
  constructor({ onChange, presetId, limits, priceShare }) {
    this.onChange = onChange;
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
    for (const { file, path } of found) {
      if (seen.has(path) || file.name.startsWith(".")) continue;
      seen.add(path);
      const problem = this.problemOf(file);
      const url = !problem && PREVIEWABLE.test(file.type) ? URL.createObjectURL(file) : null;
      this.items.push({ file, path, name: uploadName(path), problem, url });
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
    return this.items.filter((item) => !item.problem);
  }

  render() {
    this.list.replaceChildren(...this.items.map((item) => {
      const picture = item.url
        ? h("img", { src: item.url, alt: "", loading: "lazy" })
        : h("span", { class: "file-placeholder", attrs: { "aria-hidden": "true" }, text: item.problem ? "!" : (item.file.name.split(".").pop() || "").toUpperCase() });
      return h("li", { class: `file-tile${item.problem ? " has-error" : ""}`, title: item.path },
        picture,
        h("span", { class: "file-name", text: item.path }),
        h("span", { class: item.problem ? "file-error" : "file-size", text: item.problem || formatBytes(item.file.size) }),
        h("button", { type: "button", class: "chip-remove", attrs: { "aria-label": t("edit.remove", { name: item.path }) }, text: "×", onclick: () => this.remove(item) }));
    }));
    const bad = this.items.length - this.usable.length;
    this.summary.textContent = this.items.length
      ? t("edit.summary", { ok: formatNumber(this.usable.length), bad: formatNumber(bad) })
      : t("edit.none");
    this.summary.classList.toggle("bad", this.usable.length > this.limits.max_upload_files);
    this.clearButton.hidden = !this.items.length;
  }

  applyCaps() {}

  settingsChanged() {}

  countValue() {
    return Math.min(Math.max(Number(this.count.value) || 1, 1), 10);
  }

  problem() {
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
