// The lightbox: one result large, with its prompt, parameters, input and reference images
// and lineage. ← and → move through the list (they pan instead while zoomed), Esc closes
// (the <dialog>'s own behaviour). The picture itself (zoom, before/after) is viewer.js.
import { api, errorTitle } from "./api.js";
import { fileUrl, thumbUrl } from "./assets.js";
import { h, toast } from "./dom.js";
import { t } from "./i18n.js";
import { failureKind, failureNote, providerAndModel } from "./names.js";
import { openReprompt } from "./reprompt.js";
import { taskBadge } from "./status.js";
import { ImageViewer } from "./viewer.js";

/** What the lightbox shows, from a task (batch page) or a record (history page). */
export function viewOfTask(task) {
  return { ...task, imageId: task.output_image_id, error: task.error_message };
}

export function viewOfRecord(record) {
  return { ...record, imageId: record.image?.id ?? null, error: record.error_message };
}

export class Lightbox {
  /** items(): the current list; extraActions(item): more buttons (e.g. delete). */
  constructor({ items, extraActions = () => [] }) {
    this.items = items;
    this.extraActions = extraActions;
    this.index = 0;
    this.viewer = new ImageViewer();
    this.image = this.viewer.after;
    this.position = h("span", { class: "muted", attrs: { "aria-live": "polite" } });
    this.details = h("div", { class: "lightbox-details stack" });
    this.prevButton = h("button", { type: "button", class: "btn lightbox-prev", attrs: { "aria-label": t("lightbox.prev"), "aria-keyshortcuts": "ArrowLeft" }, text: "←", onclick: () => this.move(-1) });
    this.nextButton = h("button", { type: "button", class: "btn lightbox-next", attrs: { "aria-label": t("lightbox.next"), "aria-keyshortcuts": "ArrowRight" }, text: "→", onclick: () => this.move(1) });
    const close = h("button", { type: "button", class: "btn btn-ghost lightbox-close", attrs: { "aria-label": t("common.close"), "aria-keyshortcuts": "Escape" }, text: "✕", onclick: () => this.dialog.close() });
    this.dialog = h("dialog", { class: "lightbox", attrs: { "aria-label": t("lightbox.title") } },
      h("div", { class: "lightbox-bar" }, this.position, h("span", { class: "hint hide-narrow", text: t("lightbox.keys") }), close),
      h("div", { class: "lightbox-body" },
        h("figure", { class: "lightbox-figure" }, this.viewer.element, this.prevButton, this.nextButton),
        this.details));
    this.dialog.addEventListener("keydown", (event) => {
      if (event.target.closest("textarea, input, select")) return;
      if (this.viewer.panKey(event)) return;
      if (event.key === "ArrowLeft") this.move(-1, event);
      if (event.key === "ArrowRight") this.move(1, event);
    });
    document.body.append(this.dialog);
  }

  open(index) {
    this.index = index;
    this.show();
    if (!this.dialog.open) this.dialog.showModal();
  }

  move(step, event) {
    event?.preventDefault();
    const count = this.items().length;
    if (!count) return;
    this.index = (this.index + step + count) % count;
    this.show();
  }

  show() {
    const items = this.items();
    const item = items[this.index];
    if (!item) return this.dialog.close();
    this.position.textContent = t("lightbox.position", { n: this.index + 1, total: items.length });
    this.prevButton.disabled = this.nextButton.disabled = items.length < 2;
    this.viewer.show({
      src: item.imageId ? fileUrl(item.imageId) : null,
      alt: item.prompt,
      beforeSrc: item.input_image_id ? fileUrl(item.input_image_id) : null,
    });
    this.details.replaceChildren(...this.describe(item));
    this.lineage(item);
  }

  describe(item) {
    const rows = [
      ["lightbox.provider", providerAndModel(item.provider, item.model)],
      ["lightbox.aspect_ratio", item.aspect_ratio],
      ["lightbox.resolution", item.resolution],
      ["lightbox.seed", item.seed_used ?? item.seed],
      ["lightbox.negative", item.negative_prompt],
      ...Object.entries(item.params || {}).map(([name, value]) => [null, `${name} = ${value}`]),
    ].filter(([, value]) => value !== null && value !== undefined && value !== "");
    const params = h("dl", { class: "params" }, rows.map(([key, value]) =>
      h("div", {}, h("dt", { text: key ? t(key) : t("lightbox.param") }), h("dd", { text: String(value) }))));
    const inputs = [];
    if (item.input_image_id) inputs.push(this.thumb(item.input_image_id, t("lightbox.input")));
    for (const id of item.reference_image_ids || []) inputs.push(this.thumb(id, t("lightbox.reference")));
    const actions = h("div", { class: "actions" });
    if (item.imageId) {
      actions.append(
        h("a", { class: "btn", href: `${fileUrl(item.imageId)}?download=1`, download: "", text: t("lightbox.download") }),
        h("button", { type: "button", class: "btn", text: t("lightbox.keep"), onclick: () => this.keep(item) }),
        h("button", { type: "button", class: "btn btn-primary", id: "lightbox-edit", text: t("lightbox.edit"), onclick: () => openReprompt(item) }),
      );
    }
    actions.append(...this.extraActions(item));
    return [
      h("div", { class: "lightbox-status" }, item.status ? taskBadge(item.status) : ""),
      h("h2", { class: "h4", text: t("lightbox.prompt") }),
      h("p", { class: "prompt-text", text: item.prompt }),
      failureNote(failureKind(item), item.error, { className: "form-error" }) ?? "",
      params,
      inputs.length ? h("h3", { class: "h4", text: t("lightbox.inputs") }) : "",
      inputs.length ? h("div", { class: "thumb-row" }, inputs) : "",
      h("div", { class: "lineage", dataset: { for: item.imageId || "" } }),
      actions,
    ];
  }

  thumb(imageId, label) {
    return h("a", { class: "thumb-link", href: fileUrl(imageId), target: "_blank", rel: "noopener", title: label },
      h("img", { src: thumbUrl(imageId), alt: label }), h("span", { class: "thumb-label", text: label }));
  }

  async lineage(item) {
    if (!item.imageId) return;
    const chain = await api(`/api/images/${item.imageId}/lineage`).catch(() => []);
    const box = this.details.querySelector(".lineage");
    if (!box || box.dataset.for !== String(item.imageId) || chain.length < 2) return;
    box.replaceChildren(h("h3", { class: "h4", text: t("lineage.title") }),
      h("ol", { class: "thumb-row lineage-list" }, chain.map((image, index) =>
        h("li", {}, this.thumb(image.id, index === 0 ? t("lineage.this") : t("lineage.step", { n: index }))))));
  }

  async keep(item) {
    try {
      await api(`/api/assets/from-image/${item.imageId}`, { method: "POST" });
      toast(t("lightbox.kept"), "success");
    } catch (error) {
      toast(errorTitle(error), "error");
    }
  }
}
