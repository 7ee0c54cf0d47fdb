// The dialog both ways of editing finished pictures share ("edit this result" in the
// lightbox, "edit the chosen" in a gallery): a new prompt, the provider and model to edit
// with, and the new batch opened on success. Callers load the config (loadConfig) first.
import { errorTitle, showIssues } from "./api.js";
import { ModelPicker, promptMaxLength } from "./catalog.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

/**
 * `id` prefixes the fields' ids; `head` shows what is being edited; `fields` go after the
 * model picker; `send({ prompt, provider, model })` creates the batch and answers it.
 */
export function openPromptDialog({ id, title, head = [], prompt = "", promptLabel, needPrompt, submitLabel, fields = [], send }) {
  const promptBox = h("textarea", { id: `${id}-prompt`, rows: 4, maxLength: promptMaxLength(), value: prompt, required: true });
  const providerSelect = h("select", { id: `${id}-provider` });
  const modelSelect = h("select", { id: `${id}-model` });
  const issues = h("ul", { class: "issues", hidden: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: `${id}-submit`, text: submitLabel });
  const cancel = h("button", { type: "button", class: "btn btn-ghost", text: t("common.cancel") });
  const form = h("form", { class: "stack", noValidate: true },
    h("h2", { class: "h3", text: title }),
    head,
    h("label", { class: "field" }, h("span", { text: promptLabel }), promptBox),
    h("div", { class: "row-fields" },
      h("label", { class: "field grow" }, h("span", { text: t("settings.provider") }), providerSelect),
      h("label", { class: "field grow" }, h("span", { text: t("settings.model") }), modelSelect),
      fields),
    issues,
    h("div", { class: "actions" }, cancel, submit));
  const dialog = h("dialog", { class: "dialog", attrs: { "aria-label": title } }, form);
  const picker = new ModelPicker(providerSelect, modelSelect);
  picker.setMode("edit");
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!promptBox.value.trim()) {
      showIssues(issues, { message: needPrompt });
      return promptBox.focus();
    }
    submit.disabled = true;
    try {
      const created = await send({ prompt: promptBox.value, ...picker.value });
      location.assign(`/batches/${created.batch.id}`);
    } catch (error) {
      submit.disabled = false;
      showIssues(issues, { ...error, message: errorTitle(error), issues: error.issues });
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  promptBox.focus();
}
