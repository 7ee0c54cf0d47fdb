// Building and updating the DOM without inline HTML: h() makes elements, toast() tells the
// user what happened, confirmDialog() asks before something destructive.
import { formatNumber, t } from "./i18n.js";

/**
 * h("button", { class: "btn", onclick: fn, attrs: { "aria-label": "…" } }, "text", child)
 * Properties set directly (text, value, disabled, hidden, title, href…); `attrs` for the rest.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "text") element.textContent = value;
    else if (name === "attrs") for (const [k, v] of Object.entries(value)) { if (v !== undefined && v !== null && v !== false) element.setAttribute(k, v === true ? "" : String(v)); }
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element[name] = value;
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, attrs: { role: kind === "error" ? "alert" : "status" } }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** A modal question; resolves true when confirmed. Esc or Cancel: false. */
export function confirmDialog(message, { confirm = t("common.confirm"), cancel = t("common.cancel"), danger = false } = {}) {
  return new Promise((resolve) => {
    const yes = h("button", { type: "submit", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, value: "yes", text: confirm });
    const no = h("button", { type: "submit", class: "btn btn-ghost", value: "no", text: cancel });
    const form = h("form", { method: "dialog", class: "stack" }, h("p", { text: message }), h("div", { class: "actions" }, no, yes));
    const dialog = h("dialog", { class: "dialog dialog-small", attrs: { "aria-label": message } }, form);
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

/** A progress bar (role=progressbar): succeeded, failed and cancelled parts, each its own
 * colour; what is left is the bar's own background. */
export function progressBar(batch, label) {
  const bar = h("div", {
    class: "progress",
    attrs: { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": label },
  }, h("span", { class: "progress-ok" }), h("span", { class: "progress-failed" }), h("span", { class: "progress-cancelled" }));
  setProgress(bar, batch);
  return bar;
}

export function setProgress(bar, batch) {
  const total = Math.max(batch.total, 1);
  const parts = [batch.succeeded, batch.failed, batch.cancelled || 0];
  parts.forEach((count, index) => (bar.children[index].style.width = `${(100 * count) / total}%`));
  bar.setAttribute("aria-valuenow", String(Math.round((100 * batch.done) / total)));
  bar.setAttribute("aria-valuetext", progressText(batch));
}

/** "12 / 40 succeeded · 3 failed · 25 cancelled": never "done N / N" for a cancelled batch. */
export function progressText(batch) {
  const text = t("batches.progress_text", { succeeded: formatNumber(batch.succeeded), total: formatNumber(batch.total), failed: formatNumber(batch.failed) });
  return batch.cancelled ? text + t("batches.progress_cancelled", { n: formatNumber(batch.cancelled) }) : text;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Copy a secret to the clipboard (or, where the page may not, select it for Ctrl+C). */
export async function copyText(text, input = null) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("common.copied"), "success");
  } catch {
    input?.select();
    toast(t("common.copy_by_hand"));
  }
}
