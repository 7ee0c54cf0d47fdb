// "Edit this result": a new prompt for an output, submitted as a new batch whose input is
// that image (POST /api/images/{id}/edit). The dialog shows where the image came from.
import { api } from "./api.js";
import { thumbUrl } from "./assets.js";
import { loadConfig } from "./catalog.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { openPromptDialog } from "./prompt-dialog.js";

export async function openReprompt(item) {
  await loadConfig();
  const count = h("input", { id: "reprompt-count", type: "number", min: 1, max: 10, value: 1 });
  const lineage = h("ol", { class: "thumb-row lineage-list", attrs: { "aria-label": t("lineage.title") } });
  openPromptDialog({
    id: "reprompt",
    title: t("reprompt.title"),
    head: h("div", { class: "reprompt-head" },
      h("img", { class: "reprompt-source", src: thumbUrl(item.imageId), alt: t("reprompt.source") }),
      h("div", { class: "stack grow" }, h("h3", { class: "h4", text: t("lineage.title") }), lineage)),
    prompt: item.prompt,
    promptLabel: t("reprompt.prompt"),
    needPrompt: t("reprompt.need_prompt"),
    submitLabel: t("reprompt.submit"),
    fields: h("label", { class: "field field-narrow" }, h("span", { text: t("edit.count") }), count),
    send: (body) => api(`/api/images/${item.imageId}/edit`, { method: "POST", json: { ...body, count: Number(count.value) || 1 } }),
  });
  const chain = await api(`/api/images/${item.imageId}/lineage`).catch(() => []);
  lineage.replaceChildren(...chain.map((image, index) =>
    h("li", {}, h("img", { src: thumbUrl(image.id), alt: index === 0 ? t("lineage.this") : t("lineage.step", { n: index }), title: index === 0 ? t("lineage.this") : t("lineage.step", { n: index }) }))));
}
