// The lightbox's picture: zoom (wheel around the pointer, pinch, double-click fit ↔ 1:1, drag
// to pan) and, for an edit, a before/after comparison (a slider or side by side).
// One "canvas" holds the image(s) at their natural pixel size and is placed with a CSS
// transform, so 1:1 is simply scale 1; styles are set through the CSSOM (the CSP forbids
// inline style attributes, not this).
import { h } from "./dom.js";
import { formatNumber, t } from "./i18n.js";

const MAX_SCALE = 8;
const WHEEL_SPEED = 0.0015;
const KEY_STEP = 5; // the divider, in % of the width
const PAN_STEP = 80; // arrow keys when zoomed, in screen pixels
const SIDE_GAP = 16; // between the two images side by side, in image pixels

export class ImageViewer {
  constructor() {
    this.after = h("img", { class: "lightbox-image viewer-after", alt: "" });
    this.before = h("img", { class: "viewer-before", alt: t("lightbox.before") });
    this.canvas = h("div", { class: "viewer-canvas" }, this.before, this.after);
    this.divider = h("div", { class: "viewer-divider", tabIndex: 0, attrs: { role: "slider", "aria-label": t("lightbox.divider"), "aria-valuemin": 0, "aria-valuemax": 100, "aria-orientation": "horizontal" } });
    this.labels = h("div", { class: "viewer-labels", attrs: { "aria-hidden": "true" } },
      h("span", { text: t("lightbox.before") }), h("span", { text: t("lightbox.after") }));
    this.stage = h("div", { class: "viewer-stage" }, this.canvas, this.divider, this.labels);
    this.level = h("span", { class: "viewer-level", attrs: { "aria-live": "polite" } });
    this.fitButton = h("button", { type: "button", class: "btn btn-small viewer-fit", onclick: () => this.toggleActual() });
    this.modeButton = h("button", { type: "button", class: "btn btn-small viewer-mode", onclick: () => this.setSideBySide(!this.sideBySide) });
    this.tools = h("div", { class: "viewer-tools" }, this.modeButton, this.level, this.fitButton);
    this.element = h("div", { class: "viewer" }, this.stage, this.tools);
    this.scale = 1;
    this.fitted = true;
    this.x = this.y = 0;
    this.split = 50;
    this.sideBySide = false;
    this.comparing = false;
    this.pointers = new Map();
    this.after.addEventListener("load", () => this.fit());
    this.before.addEventListener("load", () => this.comparing && this.fit());
    // Fitted stays fitted as the window (or the dialog opening) changes the stage's size.
    new ResizeObserver(() => (this.fitted ? this.fit() : this.render())).observe(this.stage);
    this.listen();
  }

  /** Shows one output, and its input to compare with when there is one (null otherwise). */
  show({ src, alt, beforeSrc = null }) {
    this.comparing = Boolean(src && beforeSrc);
    this.element.classList.toggle("comparing", this.comparing);
    this.element.hidden = !src;
    this.after.alt = alt;
    if (this.after.getAttribute("src") !== src) this.after.src = src || "";
    if (this.comparing && this.before.getAttribute("src") !== beforeSrc) this.before.src = beforeSrc;
    this.split = 50;
    this.fit();
  }

  /** Zoomed in beyond fitting: arrow keys pan the image instead of changing it. */
  get zoomed() {
    return this.scale > this.fitScale() + 1e-6;
  }

  size() {
    const width = this.after.naturalWidth || 1;
    const height = this.after.naturalHeight || 1;
    return this.comparing && this.sideBySide ? { width: width * 2 + SIDE_GAP, height } : { width, height };
  }

  fitScale() {
    const { width, height } = this.size();
    const box = this.stage.getBoundingClientRect();
    if (!box.width || !box.height) return 1;
    return Math.min(1, box.width / width, box.height / height);
  }

  fit() {
    this.fitted = true;
    this.scale = this.fitScale();
    this.render();
  }

  /** Scales to `scale` keeping the image point under (px, py) — stage pixels — in place. */
  zoomTo(scale, px, py) {
    const next = Math.min(MAX_SCALE, Math.max(this.fitScale(), scale));
    this.x = px - ((px - this.x) * next) / this.scale;
    this.y = py - ((py - this.y) * next) / this.scale;
    this.scale = next;
    this.fitted = !this.zoomed;
    this.render();
  }

  toggleActual(px, py) {
    const box = this.stage.getBoundingClientRect();
    if (this.zoomed) return this.fit();
    this.zoomTo(1, px ?? box.width / 2, py ?? box.height / 2);
  }

  panBy(dx, dy) {
    this.x += dx;
    this.y += dy;
    this.render();
  }

  setSideBySide(on) {
    this.sideBySide = on;
    this.element.classList.toggle("side-by-side", on);
    this.fit();
  }

  setSplit(percent) {
    this.split = Math.min(100, Math.max(0, percent));
    this.render();
  }

  /** Keeps the image on screen (centred along an axis where it is smaller than the stage). */
  clamp(box, width, height) {
    const w = width * this.scale;
    const hgt = height * this.scale;
    this.x = w <= box.width ? (box.width - w) / 2 : Math.min(0, Math.max(box.width - w, this.x));
    this.y = hgt <= box.height ? (box.height - hgt) / 2 : Math.min(0, Math.max(box.height - hgt, this.y));
  }

  render() {
    const box = this.stage.getBoundingClientRect();
    const { width, height } = this.size();
    this.clamp(box, width, height);
    Object.assign(this.canvas.style, { width: `${width}px`, height: `${height}px`, transform: `translate(${this.x}px, ${this.y}px) scale(${this.scale})` });
    const slider = this.comparing && !this.sideBySide;
    // The after image is on top, shown right of the divider; the before image shows left of it.
    this.after.style.clipPath = slider ? `inset(0 0 0 ${this.split}%)` : "";
    this.divider.hidden = !slider;
    // In stage pixels, over the picture only, so its line keeps its width at any zoom.
    const top = Math.max(0, this.y);
    Object.assign(this.divider.style, {
      left: `${this.x + width * this.scale * (this.split / 100)}px`,
      top: `${top}px`,
      height: `${Math.min(box.height, this.y + height * this.scale) - top}px`,
    });
    this.divider.setAttribute("aria-valuenow", String(Math.round(this.split)));
    this.divider.setAttribute("aria-valuetext", `${Math.round(this.split)} %`);
    this.level.textContent = `${formatNumber(Math.round(this.scale * 100))} %`;
    this.fitButton.textContent = this.zoomed ? t("lightbox.fit") : "1:1";
    this.fitButton.setAttribute("aria-label", this.zoomed ? t("lightbox.fit") : t("lightbox.actual"));
    this.fitButton.disabled = !this.zoomed && this.fitScale() >= 1;
    this.modeButton.textContent = this.sideBySide ? t("lightbox.slider") : t("lightbox.side_by_side");
    this.stage.classList.toggle("zoomed", this.zoomed);
  }

  /** Where a pointer is, in stage pixels. */
  local(event) {
    const box = this.stage.getBoundingClientRect();
    return { px: event.clientX - box.left, py: event.clientY - box.top };
  }

  splitAt(event) {
    const { width } = this.size();
    this.setSplit(((this.local(event).px - this.x) / (width * this.scale)) * 100);
  }

  listen() {
    this.stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      const { px, py } = this.local(event);
      this.zoomTo(this.scale * Math.exp(-event.deltaY * WHEEL_SPEED), px, py);
    }, { passive: false });
    this.stage.addEventListener("dblclick", (event) => {
      const { px, py } = this.local(event);
      this.toggleActual(px, py);
    });
    // A drag here moves the divider or the picture, never the image file (HTML drag and drop).
    this.stage.addEventListener("dragstart", (event) => event.preventDefault());
    this.stage.addEventListener("pointerdown", (event) => this.press(event));
    this.stage.addEventListener("pointermove", (event) => this.drag(event));
    for (const type of ["pointerup", "pointercancel"]) this.stage.addEventListener(type, (event) => this.release(event));
    this.divider.addEventListener("keydown", (event) => this.dividerKey(event));
  }

  /** A drag on the divider (or anywhere, unzoomed, in slider mode) moves it; else it pans. */
  press(event) {
    if (event.button !== 0) return;
    this.stage.setPointerCapture(event.pointerId);
    this.pointers.set(event.pointerId, { clientX: event.clientX, clientY: event.clientY });
    const slider = this.comparing && !this.sideBySide;
    this.gesture = this.pointers.size > 1 ? "pinch"
      : slider && (event.target === this.divider || !this.zoomed) ? "split" : "pan";
    if (this.gesture === "split") {
      this.divider.focus();
      this.splitAt(event);
    }
    this.pinchStart = this.pinch();
  }

  drag(event) {
    const last = this.pointers.get(event.pointerId);
    if (!last) return;
    this.pointers.set(event.pointerId, { clientX: event.clientX, clientY: event.clientY });
    if (this.gesture === "split") return this.splitAt(event);
    if (this.gesture === "pan") return this.panBy(event.clientX - last.clientX, event.clientY - last.clientY);
    const now = this.pinch();
    if (!now || !this.pinchStart) return;
    const { px, py } = this.local({ clientX: now.cx, clientY: now.cy });
    this.zoomTo(this.scale * (now.distance / this.pinchStart.distance), px, py);
    this.pinchStart = now;
  }

  release(event) {
    this.pointers.delete(event.pointerId);
    if (this.pointers.size === 0) this.gesture = null;
    this.pinchStart = this.pinch();
  }

  /** Two touches: their distance and midpoint (client pixels); null with fewer. */
  pinch() {
    const [a, b] = [...this.pointers.values()];
    if (!a || !b) return null;
    return { distance: Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY) || 1, cx: (a.clientX + b.clientX) / 2, cy: (a.clientY + b.clientY) / 2 };
  }

  dividerKey(event) {
    const moves = { ArrowLeft: -KEY_STEP, ArrowRight: KEY_STEP, ArrowDown: -KEY_STEP, ArrowUp: KEY_STEP, PageDown: -20, PageUp: 20 };
    if (event.key === "Home") this.setSplit(0);
    else if (event.key === "End") this.setSplit(100);
    else if (event.key in moves) this.setSplit(this.split + moves[event.key]);
    else return;
    // The divider's keys are its own: they must not also change the image.
    event.preventDefault();
    event.stopPropagation();
  }

  /** Arrow keys pan while zoomed; true when the key was used (the lightbox then ignores it). */
  panKey(event) {
    const moves = { ArrowLeft: [PAN_STEP, 0], ArrowRight: [-PAN_STEP, 0], ArrowUp: [0, PAN_STEP], ArrowDown: [0, -PAN_STEP] };
    if (!this.zoomed || !(event.key in moves)) return false;
    event.preventDefault();
    this.panBy(...moves[event.key]);
    return true;
  }
}
