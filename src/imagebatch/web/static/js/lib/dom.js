// Building and updating the DOM without inline HTML: h() makes elements, toast() tells the
// user what happened, confirmDialog() asks before something destructive.
import { t } from "./i18n.js";

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
export function confirmDialog(message, { confirm = t("common.confirm"), danger = false } = {}) {
  return new Promise((resolve) => {
    const yes = h("button", { type: "submit", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, value: "yes", text: confirm });
    const no = h("button", { type: "submit", class: "btn btn-ghost", value: "no", text: t("common.cancel") });
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

/** A progress bar (role=progressbar) with succeeded and failed parts. */
export function progressBar(batch, label) {
  const bar = h("div", {
    class: "progress",
    attrs: { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": label },
  }, h("span", { class: "progress-ok" }), h("span", { class: "progress-failed" }));
  setProgress(bar, batch);
  return bar;
}

export function setProgress(bar, batch) {
  const total = Math.max(batch.total, 1);
  const ok = (100 * batch.succeeded) / total;
  const failed = (100 * (batch.failed + batch.cancelled)) / total;
  bar.children[0].style.width = `${ok}%`;
  bar.children[1].style.width = `${failed}%`;
  bar.setAttribute("aria-valuenow", String(Math.round((100 * batch.done) / total)));
  bar.setAttribute("aria-valuetext", `${batch.done} / ${batch.total}`);
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
