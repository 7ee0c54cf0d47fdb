// "Edit this result": a new prompt for an output, submitted as a new batch whose input is
// that image (POST /api/images/{id}/edit). The dialog shows where the image came from.
import { api, errorTitle, showIssues } from "./api.js";
import { thumbUrl } from "./assets.js";
import { ModelPicker, loadConfig } from "./catalog.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

export async function openReprompt(item) {
  await loadConfig();
  const prompt = h("textarea", { id: "reprompt-prompt", rows: 4, maxLength: 4000, value: item.prompt, required: true });
  const count = h("input", { id: "reprompt-count", type: "number", min: 1, max: 10, value: 1 });
  const providerSelect = h("select", { id: "reprompt-provider" });
  const modelSelect = h("select", { id: "reprompt-model" });
  const issues = h("ul", { class: "issues", hidden: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "reprompt-submit", text: t("reprompt.submit") });
  const cancel = h("button", { type: "button", class: "btn btn-ghost", text: t("common.cancel") });
  const lineage = h("ol", { class: "thumb-row lineage-list", attrs: { "aria-label": t("lineage.title") } });
  const form = h("form", { class: "stack", noValidate: true },
    h("h2", { class: "h3", text: t("reprompt.title") }),
    h("div", { class: "reprompt-head" },
      h("img", { class: "reprompt-source", src: thumbUrl(item.imageId), alt: t("reprompt.source") }),
      h("div", { class: "stack grow" }, h("h3", { class: "h4", text: t("lineage.title") }), lineage)),
    h("label", { class: "field" }, h("span", { text: t("reprompt.prompt") }), prompt),
    h("div", { class: "row-fields" },
      h("label", { class: "field grow" }, h("span", { text: t("settings.provider") }), providerSelect),
      h("label", { class: "field grow" }, h("span", { text: t("settings.model") }), modelSelect),
      h("label", { class: "field field-narrow" }, h("span", { text: t("edit.count") }), count)),
    issues,
    h("div", { class: "actions" }, cancel, submit));
  const dialog = h("dialog", { class: "dialog", attrs: { "aria-label": t("reprompt.title") } }, form);
  const picker = new ModelPicker(providerSelect, modelSelect);
  picker.setMode("edit");
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!prompt.value.trim()) {
      showIssues(issues, { message: t("reprompt.need_prompt") });
      return prompt.focus();
    }
    submit.disabled = true;
    try {
      const created = await api(`/api/images/${item.imageId}/edit`, {
        method: "POST",
        json: { prompt: prompt.value, count: Number(count.value) || 1, ...picker.value },
      });
      location.assign(`/batches/${created.batch.id}`);
    } catch (error) {
      submit.disabled = false;
      showIssues(issues, { ...error, message: errorTitle(error), issues: error.issues });
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  prompt.focus();
  const chain = await api(`/api/images/${item.imageId}/lineage`).catch(() => []);
  lineage.replaceChildren(...chain.map((image, index) =>
    h("li", {}, h("img", { src: thumbUrl(image.id), alt: index === 0 ? t("lineage.this") : t("lineage.step", { n: index }), title: index === 0 ? t("lineage.this") : t("lineage.step", { n: index }) }))));
}
