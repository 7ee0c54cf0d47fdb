// The selection bar of a gallery (templates/_gallery_bar.html): how many are chosen, select
// all / none, and what to do with them: download as one ZIP, delete from the history, send
// failed tasks back to the queue, or edit the pictures with one new prompt as ONE new batch.
import { api, errorTitle } from "./api.js";
import { thumbUrl } from "./assets.js";
import { loadConfig } from "./catalog.js";
import { $, confirmDialog, h, toast } from "./dom.js";
import { formatNumber, t } from "./i18n.js";
import { openPromptDialog } from "./prompt-dialog.js";

/** What a gallery item means to the bulk actions (a task on the batch page, a record in
 * the history): its output image (or null), whether it failed, whether it is a record. */
export const taskFacts = (task) => ({
  imageId: task.status === "succeeded" ? task.output_image_id : null,
  failed: task.status === "failed",
  record: task.status === "succeeded" || task.status === "failed",
  id: task.id,
});

export const recordFacts = (record) => ({
  imageId: record.image_id ?? record.image?.id ?? null,
  failed: record.status === "failed",
  record: true,
  id: record.id,
});

const MAX_PREVIEW = 8;

export class SelectionBar {
  /** facts(item) → taskFacts/recordFacts; changed(): reload after a delete or retry. */
  constructor(gallery, { facts, changed }) {
    this.gallery = gallery;
    this.facts = facts;
    this.reload = changed;
    this.buttons = {
      all: $("#sel-all"),
      none: $("#sel-none"),
      zip: $("#sel-zip"),
      retry: $("#sel-retry"),
      edit: $("#sel-edit"),
      remove: $("#sel-delete"),
    };
    this.buttons.all.addEventListener("click", () => gallery.selectAll());
    this.buttons.none.addEventListener("click", () => gallery.clear());
    this.buttons.zip.addEventListener("click", () => this.download());
    this.buttons.retry.addEventListener("click", () => this.retry());
    this.buttons.edit.addEventListener("click", () => this.edit());
    this.buttons.remove.addEventListener("click", () => this.remove());
    this.show([]);
  }

  chosen() {
    return this.gallery.selectedItems().map(this.facts);
  }

  show(items) {
    const facts = items.map(this.facts);
    const count = items.length;
    $("#sel-count").textContent = t("gallery.selected", { n: formatNumber(count) });
    this.buttons.none.hidden = count === 0;
    $("#sel-actions").hidden = count === 0;
    this.buttons.zip.disabled = this.buttons.edit.disabled = !facts.some((fact) => fact.imageId);
    this.buttons.retry.disabled = !facts.some((fact) => fact.failed);
    this.buttons.remove.disabled = !facts.some((fact) => fact.record);
  }

  async download() {
    const ids = this.chosen().map((fact) => fact.imageId).filter(Boolean);
    try {
      const response = await api("/api/downloads", { method: "POST", json: { image_ids: ids }, raw: true });
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: t("gallery.zip_name", { n: ids.length }), hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      // the download has its own copy by then; the page's is let go a while later
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      toast(errorTitle(error), "error");
    }
  }

  async remove() {
    const ids = this.chosen().filter((fact) => fact.record).map((fact) => fact.id);
    const question = t("gallery.delete_confirm", { n: formatNumber(ids.length) });
    if (!(await confirmDialog(question, { confirm: t("gallery.delete"), danger: true }))) return;
    try {
      const answer = await api("/api/records/delete", { method: "POST", json: { ids } });
      toast(t("gallery.deleted", { n: formatNumber(answer.deleted) }), "success");
      this.gallery.clear();
      await this.reload();
    } catch (error) {
      toast(errorTitle(error), "error");
    }
  }

  async retry() {
    const ids = this.chosen().filter((fact) => fact.failed).map((fact) => fact.id);
    try {
      const answer = await api("/api/tasks/retry", { method: "POST", json: { task_ids: ids } });
      toast(t("gallery.retried", { n: formatNumber(answer.retried) }), "success");
      this.gallery.clear();
      await this.reload();
    } catch (error) {
      toast(errorTitle(error), "error");
    }
  }

  async edit() {
    const ids = this.chosen().map((fact) => fact.imageId).filter(Boolean);
    await loadConfig();
    openEditDialog(ids);
  }
}

/** One new prompt for all the chosen pictures; on success the page goes to the new batch. */
function openEditDialog(imageIds) {
  const previews = imageIds.slice(0, MAX_PREVIEW).map((id) => h("li", {}, h("img", { src: thumbUrl(id), alt: "" })));
  const more = imageIds.length - previews.length;
  openPromptDialog({
    id: "bulk-edit",
    title: t("gallery.edit_title", { n: formatNumber(imageIds.length) }),
    head: [
      h("ul", { class: "thumb-row" }, previews, more > 0 ? h("li", { class: "muted", text: t("gallery.more", { n: formatNumber(more) }) }) : null),
      h("p", { class: "muted", text: t("gallery.edit_lead") }),
    ],
    promptLabel: t("gallery.edit_prompt"),
    needPrompt: t("gallery.edit_need_prompt"),
    submitLabel: t("gallery.edit_submit"),
    send: (body) => api("/api/images/edit", { method: "POST", json: { image_ids: imageIds, ...body } }),
  });
}
