// The asset library dialog: pick up to N reference images (asset:<id>), or upload new
// ones into the library first. Thumbnails come from /api/images/{id}/thumbnail.
import { api, errorTitle, upload } from "./api.js";
import { $, h, toast } from "./dom.js";
import { t } from "./i18n.js";
import { serverWords, translateIssue } from "./messages.js";

export const thumbUrl = (imageId) => `/api/images/${imageId}/thumbnail`;
export const fileUrl = (imageId) => `/api/images/${imageId}/file`;

let library = null;

async function loadLibrary() {
  library ??= await api("/api/assets?limit=500");
  return library;
}

/** Resolves with the chosen assets (in the order picked) or null when cancelled. */
export async function pickAssets({ max, chosen = [] }) {
  const assets = await loadLibrary();
  const picked = new Map(chosen.map((asset) => [asset.id, asset]));
  return new Promise((resolve) => {
    const grid = h("ul", { class: "asset-grid", attrs: { "aria-label": t("assets.library") } });
    const counter = h("p", { class: "muted", attrs: { "aria-live": "polite" } });
    const empty = h("p", { class: "muted", text: t("assets.empty"), hidden: assets.length > 0 });
    const fileInput = h("input", { type: "file", multiple: true, accept: "image/*", class: "visually-hidden", tabIndex: -1, attrs: { "aria-label": t("assets.upload") } });
    const uploadButton = h("button", { type: "button", class: "btn", text: t("assets.upload"), onclick: () => fileInput.click() });
    const done = h("button", { type: "submit", class: "btn btn-primary", value: "ok", text: t("assets.use") });
    const cancel = h("button", { type: "submit", class: "btn btn-ghost", value: "cancel", text: t("common.cancel") });

    const update = () => {
      counter.textContent = t("assets.chosen", { n: picked.size, max });
      for (const item of grid.children) {
        const id = Number(item.dataset.id);
        const box = $("input", item);
        box.checked = picked.has(id);
        box.disabled = !picked.has(id) && picked.size >= max;
      }
    };
    const tile = (asset) => {
      const box = h("input", {
        type: "checkbox",
        class: "asset-check",
        onchange: () => {
          if (box.checked) picked.set(asset.id, asset);
          else picked.delete(asset.id);
          update();
        },
      });
      return h("li", { dataset: { id: asset.id } },
        h("label", { class: "asset-tile" }, box,
          h("img", { src: thumbUrl(asset.image.id), alt: "", loading: "lazy" }),
          h("span", { class: "asset-name", text: asset.name })));
    };
    const render = () => {
      grid.replaceChildren(...assets.map(tile));
      empty.hidden = assets.length > 0;
      update();
    };
    fileInput.addEventListener("change", async () => {
      const form = new FormData();
      for (const file of fileInput.files) form.append("files", file, file.name);
      fileInput.value = "";
      uploadButton.disabled = true;
      try {
        const answer = await upload("/api/assets", form, () => {});
        assets.unshift(...answer.added);
        for (const asset of answer.added) if (picked.size < max) picked.set(asset.id, asset);
        for (const skipped of answer.skipped) toast(translateIssue(skipped) || serverWords(skipped), "error");
        render();
      } catch (error) {
        toast(errorTitle(error), "error");
      } finally {
        uploadButton.disabled = false;
      }
    });
    const form = h("form", { method: "dialog", class: "stack" },
      h("h2", { class: "h3", text: t("assets.title", { max }) }),
      h("div", { class: "toolbar" }, uploadButton, fileInput, counter),
      empty, grid,
      h("div", { class: "actions" }, cancel, done));
    const dialog = h("dialog", { class: "dialog dialog-wide", attrs: { "aria-label": t("assets.title", { max }) } }, form);
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? [...picked.values()] : null);
      dialog.remove();
    });
    document.body.append(dialog);
    render();
    dialog.showModal();
  });
}

/** Chips for chosen references, with a remove button each and a "choose" button. */
export class ReferenceField {
  constructor(container, { max = 4, onChange = () => {}, compact = false } = {}) {
    this.container = container;
    this.max = max;
    this.onChange = onChange;
    this.compact = compact;
    this.items = []; // {id, image: {id}, name} for assets; {text} for other references
    this.render();
  }

  setMax(max) {
    this.max = max;
    this.render();
  }

  setReferences(references) {
    this.items = references;
    this.render();
  }

  get references() {
    return this.items.map((item) => (item.text ? item.text : `asset:${item.id}`));
  }

  render() {
    const chips = this.items.map((item, index) => {
      const remove = h("button", {
        type: "button",
        class: "chip-remove",
        attrs: { "aria-label": t("refs.remove", { name: item.name || item.text }) },
        text: "×",
        onclick: () => {
          this.items.splice(index, 1);
          this.render();
          this.onChange();
        },
      });
      const picture = item.image ? h("img", { src: thumbUrl(item.image.id), alt: "" }) : null;
      return h("span", { class: "ref-chip", title: item.name || item.text }, picture, h("span", { class: "ref-name", text: item.name || item.text }), remove);
    });
    const choose = h("button", {
      type: "button",
      class: `btn ${this.compact ? "btn-small btn-ghost" : ""}`,
      disabled: this.max === 0,
      title: this.max === 0 ? t("refs.unsupported") : "",
      text: this.compact ? t("refs.pick_short", { n: this.items.length }) : t("refs.pick"),
      onclick: async () => {
        const assets = this.items.filter((item) => !item.text);
        const chosen = await pickAssets({ max: Math.max(this.max - (this.items.length - assets.length), 0), chosen: assets });
        if (chosen === null) return;
        this.items = [...this.items.filter((item) => item.text), ...chosen];
        this.render();
        this.onChange();
      },
    });
    const note = this.max === 0 && !this.compact ? h("small", { class: "hint", text: t("refs.unsupported") }) : null;
    this.container.replaceChildren(...(this.compact ? [] : chips), choose, ...(this.compact ? chips : []), note || "");
  }
}
