// A gallery of results: tiles keep their picture's aspect ratio in justified rows (a 16:9
// batch is wide, a 9:16 batch tall), and a selection for bulk actions.
//
// Layout without a script measuring rows: each tile is a flex item whose grow factor and
// basis are its aspect ratio (one CSS custom property, --ratio, set through the CSSOM, which
// the CSP allows), so the tiles of a row share its width in proportion and their pictures
// end up one height; a filler after the last tile keeps the last row from stretching.
//
// Selection: a click on a tile's check box toggles it; shift-click selects a range from the
// last one clicked; once something is selected a click on a picture toggles too (Ctrl or
// Cmd-click always does). Keyboard: arrows move (Shift extends), Space toggles, Enter opens,
// Ctrl/Cmd-A selects all, Esc clears.
import { h } from "./dom.js";
import { t } from "./i18n.js";

/** "16:9" → 1.78; a picture's own size wins when known. */
export function ratioOf({ width, height, aspect_ratio: aspect }) {
  if (width > 0 && height > 0) return width / height;
  const match = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(aspect || "");
  return match ? Number(match[1]) / Number(match[2]) : 1;
}

/** Ratios beyond these make a tile a sliver or a banner: the picture is cropped to fit. */
const clampRatio = (ratio) => Math.min(Math.max(ratio, 0.4), 2.5);

const TYPING = "input, textarea, select, [contenteditable]";

export class Gallery {
  /**
   * list: the <ul>; keyOf(item): a stable id; view(item) → { imageSrc, ratio, label (the
   * picture's button), name (what the check box selects), caption: [nodes], className,
   * placeholder }; onOpen(item): show it large; onChange(selected items).
   */
  constructor(list, { keyOf, view, onOpen, onChange = () => {} }) {
    this.list = list;
    this.keyOf = keyOf;
    this.view = view;
    this.onOpen = onOpen;
    this.onChange = onChange;
    this.items = [];
    this.keys = new Map();
    this.selected = new Set();
    this.anchor = null; // the key a shift-click or shift-arrow range starts from
    this.focusKey = null; // the tile that takes Tab (roving tabindex)
    list.classList.add("gallery");
    list.setAttribute("aria-multiselectable", "true");
    list.addEventListener("keydown", (event) => this.onKey(event));
    document.addEventListener("keydown", (event) => this.onPageKey(event));
  }

  /** Show these items (in order); the selection keeps those still there. */
  setItems(items) {
    this.items = items;
    // data-key (a string) → the key itself, for events on a tile
    this.keys = new Map(items.map((item) => [String(this.keyOf(item)), this.keyOf(item)]));
    const keys = new Set(this.keys.values());
    for (const key of this.selected) if (!keys.has(key)) this.selected.delete(key);
    if (!keys.has(this.focusKey)) this.focusKey = items.length ? this.keyOf(items[0]) : null;
    this.list.replaceChildren(...items.map((item) => this.tile(item)));
    this.changed();
  }

  /** One item changed (a task finished): its tile is drawn again in place. */
  update(item) {
    const key = this.keyOf(item);
    const index = this.items.findIndex((other) => this.keyOf(other) === key);
    if (index < 0) return;
    this.items[index] = item;
    const old = this.tileOf(key);
    const hadFocus = old?.contains(document.activeElement);
    old?.replaceWith(this.tile(item));
    if (hadFocus) this.focus(key);
    this.changed();
  }

  selectedItems() {
    return this.items.filter((item) => this.selected.has(this.keyOf(item)));
  }

  selectAll() {
    for (const item of this.items) this.selected.add(this.keyOf(item));
    this.changed();
  }

  clear() {
    this.selected.clear();
    this.anchor = null;
    this.changed();
  }

  toggle(key) {
    if (this.selected.has(key)) this.selected.delete(key);
    else this.selected.add(key);
    this.anchor = key;
    this.changed();
  }

  /** Select from the anchor to `key` (both included), adding to what is selected. */
  selectRange(key) {
    const keys = this.items.map(this.keyOf);
    const from = keys.indexOf(this.anchor ?? key);
    const to = keys.indexOf(key);
    const [start, end] = from < 0 ? [to, to] : [Math.min(from, to), Math.max(from, to)];
    for (const each of keys.slice(start, end + 1)) this.selected.add(each);
    this.changed();
  }

  // ---- drawing ----
  tile(item) {
    const key = this.keyOf(item);
    const { imageSrc, ratio, label, name = label, caption = [], className = "", placeholder = null } = this.view(item);
    const picture = h("button", {
      type: "button",
      // only a picture is a "thumb-button" (its focus ring is drawn for pictures)
      class: imageSrc ? "thumb-button gallery-thumb" : "gallery-thumb thumb-empty",
      tabIndex: key === this.focusKey ? 0 : -1,
      attrs: { "aria-label": label },
      onclick: (event) => this.onPictureClick(event, item),
      onfocus: () => this.rove(key),
    }, imageSrc
      ? h("img", { src: imageSrc, alt: "", loading: "lazy", decoding: "async" })
      : h("span", { class: "thumb-placeholder", attrs: { "aria-hidden": "true" } }, placeholder));
    const check = h("button", {
      type: "button",
      class: "tile-check",
      tabIndex: -1,
      attrs: { role: "checkbox", "aria-checked": String(this.selected.has(key)), "aria-label": t("gallery.select_item", { name }) },
      onclick: (event) => this.onCheckClick(event, key),
    });
    const tile = h("li", { class: `gallery-tile ${className}`, dataset: { key: String(key) } },
      h("div", { class: "tile-picture" }, picture, check),
      caption.length ? h("div", { class: "tile-caption" }, caption) : null);
    tile.style.setProperty("--ratio", String(clampRatio(ratio)));
    return tile;
  }

  tileOf(key) {
    return this.list.querySelector(`[data-key="${CSS.escape(String(key))}"]`);
  }

  changed() {
    const selecting = this.selected.size > 0;
    this.list.classList.toggle("selecting", selecting);
    for (const tile of this.list.children) {
      const on = this.selected.has(this.keyFromTile(tile));
      tile.classList.toggle("selected", on);
      tile.querySelector(".tile-check").setAttribute("aria-checked", String(on));
    }
    this.onChange(this.selectedItems());
  }

  keyFromTile(tile) {
    return this.keys.get(tile.dataset.key);
  }

  // ---- pointer ----
  onPictureClick(event, item) {
    const key = this.keyOf(item);
    if (event.shiftKey) return this.selectRange(key);
    const hasPicture = Boolean(this.view(item).imageSrc);
    if (event.ctrlKey || event.metaKey || this.selected.size > 0 || !hasPicture) return this.toggle(key);
    this.onOpen(item);
  }

  onCheckClick(event, key) {
    event.stopPropagation();
    if (event.shiftKey) this.selectRange(key);
    else this.toggle(key);
  }

  // ---- keyboard ----
  rove(key) {
    if (this.focusKey === key) return;
    this.tileOf(this.focusKey)?.querySelector(".gallery-thumb")?.setAttribute("tabindex", "-1");
    this.focusKey = key;
    this.tileOf(key)?.querySelector(".gallery-thumb")?.setAttribute("tabindex", "0");
  }

  focus(key) {
    this.rove(key);
    const thumb = this.tileOf(key)?.querySelector(".gallery-thumb");
    thumb?.focus();
    thumb?.scrollIntoView({ block: "nearest" });
  }

  onKey(event) {
    const tile = event.target.closest(".gallery-tile");
    if (!tile || !event.target.classList.contains("gallery-thumb")) return;
    const keys = this.items.map(this.keyOf);
    const key = this.keyFromTile(tile);
    const index = keys.indexOf(key);
    const moves = {
      ArrowLeft: () => keys[index - 1],
      ArrowRight: () => keys[index + 1],
      ArrowUp: () => this.vertical(tile, -1),
      ArrowDown: () => this.vertical(tile, 1),
      Home: () => keys[0],
      End: () => keys[keys.length - 1],
    };
    if (moves[event.key]) {
      event.preventDefault();
      const next = moves[event.key]();
      if (next === undefined) return;
      if (event.shiftKey) {
        this.anchor ??= key;
        this.selectRange(next);
      }
      return this.focus(next);
    }
    if (event.key === " ") {
      event.preventDefault(); // not the button's own click on release
      if (event.shiftKey) this.selectRange(key);
      else this.toggle(key);
    } else if (event.key === "Enter") {
      event.preventDefault();
      const item = this.items[index];
      if (this.view(item).imageSrc) this.onOpen(item);
      else this.toggle(key);
    }
  }

  /** The tile in the row above or below whose middle is nearest this one's. */
  vertical(tile, direction) {
    const here = tile.getBoundingClientRect();
    const middle = here.left + here.width / 2;
    const rows = [...this.list.children].map((other) => ({ other, box: other.getBoundingClientRect() }))
      .filter(({ box }) => (direction > 0 ? box.top >= here.bottom - 1 : box.bottom <= here.top + 1));
    if (!rows.length) return undefined;
    const rowTop = direction > 0 ? Math.min(...rows.map(({ box }) => box.top)) : Math.max(...rows.map(({ box }) => box.top));
    const row = rows.filter(({ box }) => Math.abs(box.top - rowTop) < 2);
    const distance = ({ box }) => Math.abs(box.left + box.width / 2 - middle);
    const nearest = row.reduce((best, each) => (distance(each) < distance(best) ? each : best));
    return this.keyFromTile(nearest.other);
  }

  /** Ctrl/Cmd-A and Esc anywhere on the page but a field or an open dialog. */
  onPageKey(event) {
    if (event.defaultPrevented || event.target.closest?.(TYPING) || document.querySelector("dialog[open]")) return;
    if (event.key.toLowerCase() === "a" && (event.ctrlKey || event.metaKey) && this.items.length) {
      event.preventDefault();
      this.selectAll();
    } else if (event.key === "Escape" && this.selected.size) {
      this.clear();
    }
  }
}

/** Keyup of Space on a tile must not "click" it after keydown toggled it. */
document.addEventListener("keyup", (event) => {
  if (event.key === " " && event.target.classList?.contains("gallery-thumb")) event.preventDefault();
}, true);

// Sticky bars sit just under the top bar, whose height depends on the language and width.
function measureTopbar() {
  const bar = document.querySelector(".topbar");
  if (bar) document.documentElement.style.setProperty("--topbar-height", `${bar.offsetHeight}px`);
}
measureTopbar();
window.addEventListener("resize", measureTopbar);
