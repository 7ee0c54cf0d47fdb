// The table grid's bad cells: the server checks the rows (each estimate is a dry run) and
// names each problem by row and column ("row 3, column count"); the cell is marked where
// it is, with the message next to it, instead of only in a list beside the form.
import { h } from "./dom.js";
import { lang } from "./i18n.js";
import { serverWords, translateIssue } from "./messages.js";

const CELL = /^row (\d+), column (.+)$/;
const ROW = /^row (\d+)$/;

/** The message for a cell, in the page's language (the server's words when no rule knows
 * it); `where` names the column as the grid's header does. */
function message(issue, where) {
  const cell = where.match(CELL); // the row and column as the grid names them
  const params = cell ? { ...issue.params, row: cell[1], column: cell[2] } : issue.params;
  return (lang === "en" ? null : translateIssue({ ...issue, where, params })) || serverWords({ ...issue, where: "" });
}

export class CellMarks {
  constructor() {
    /** row object → (column key → message) */
    this.byRow = new Map();
  }

  /** Marks from an error about `sent` (the rows as they went, numbered from 1); a row's
   * own problem (no column) is shown on its prompt. Issues about no row are left out.
   * `whereOf(row, key)`: the cell as the grid names it ("row 2, column Count"). */
  static of(error, sent, fields, whereOf) {
    const marks = new CellMarks();
    for (const issue of error?.issues || []) {
      const cell = issue.where?.match(CELL);
      const rowOnly = issue.where?.match(ROW);
      const number = Number((cell || rowOnly)?.[1]);
      const row = sent[number - 1];
      if (!row) continue;
      const key = cell && fields.includes(cell[2]) ? cell[2] : "prompt";
      if (!marks.byRow.has(row)) marks.byRow.set(row, new Map());
      const cells = marks.byRow.get(row);
      const text = message(issue, cell ? whereOf(row, key) : issue.where);
      cells.set(key, cells.has(key) ? `${cells.get(key)} ${text}` : text);
    }
    return marks;
  }

  get badRows() {
    return this.byRow.size;
  }

  isBad(row) {
    return this.byRow.has(row);
  }

  /** Mark the cells of the drawn grid (`rows[i]` is drawn as the body's row i). */
  apply(body, rows) {
    rows.forEach((row, index) => {
      const cells = this.byRow.get(row);
      for (const td of body.rows[index]?.querySelectorAll("td[data-key]") || []) {
        const text = cells?.get(td.dataset.key);
        td.classList.toggle("cell-bad", Boolean(text));
        td.title = text || "";
        td.querySelector(".cell-error")?.remove();
        const control = td.querySelector("input, select, textarea");
        if (text) control?.setAttribute("aria-invalid", "true");
        else control?.removeAttribute("aria-invalid");
        if (text) td.append(h("small", { class: "cell-error", text }));
      }
    });
  }

  /** The first marked cell of the drawn grid, or null. */
  first(body) {
    return body.querySelector("td.cell-bad");
  }
}
