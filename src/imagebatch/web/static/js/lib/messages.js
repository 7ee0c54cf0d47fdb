// The server's error messages in the page's language. The API speaks English: each issue
// is {where, problem, hint}. For the kinds users meet most (an unknown column, a bad value
// in a row, an empty prompt, a file too large or not an image, an unknown reference, too
// many files or tasks, too few credits) the message is rebuilt here from those fields; the
// server's own words stay available in a <details> element. English pages show the
// server's text as it is, and anything without a rule does too.
import { h } from "./dom.js";
import { formatCredits, lang, t } from "./i18n.js";

const QUOTED = String.raw`(['"])(.*)\1`;
const CELL = /^(?:row|line) (\d+), column (.+)$/;
const ROW = /^(?:row|line) (\d+)(?:,|$)/;

/** A cell's bad value, by what the column parser said ({value}, {allowed}…). */
const VALUE_RULES = [
  [new RegExp(`^${QUOTED} is not an aspect ratio; use one of (.+)$`), (m) => t("issue.value_ratio", { value: m[2], allowed: m[3] })],
  [new RegExp(`^${QUOTED} is not a resolution`), (m) => t("issue.value_resolution", { value: m[2] })],
  [new RegExp(`^${QUOTED} is not a whole number$`), (m) => t("issue.value_number", { value: m[2] })],
  [/^count (-?\d+) is out of range; use 1 to (\d+)$/, (m) => t("issue.value_count", { value: m[1], max: m[2] })],
  [/^seed (-?\d+) is out of range/, (m) => t("issue.value_seed", { value: m[1] })],
  [/^(\d+) reference images; use at most (\d+)$/, (m) => t("issue.value_references", { n: m[1], max: m[2] })],
];

const REFERENCE = [
  new RegExp(`^unknown reference image ${QUOTED}$`),
  new RegExp(`^no asset ${QUOTED} in your library$`),
  new RegExp(`^${QUOTED} is not a known image$`),
  new RegExp(`^no stored image ${QUOTED}$`),
];

/** Issue rules: (issue) → translated text, or null when the rule does not fit. */
const ISSUE_RULES = [
  ({ where, problem, hint }) => {
    const column = where.match(/^column (.+)$/);
    if (!column || problem !== "is not a known column") return null;
    const known = hint.replace(/^use: /, "");
    return t("issue.unknown_column", { column: column[1], known });
  },
  ({ where, problem }) => (where === "header" && problem === "has no prompt column" ? t("issue.no_prompt_column") : null),
  ({ where, problem }) => {
    if (problem !== "the prompt is empty") return null;
    const row = where.match(ROW);
    return row ? t("issue.empty_prompt_row", { row: row[1] }) : t("issue.empty_prompt");
  },
  ({ where, problem }) => {
    const found = REFERENCE.map((rule) => problem.match(rule)).find(Boolean);
    if (!found) return null;
    const row = where.match(ROW);
    return row ? t("issue.unknown_reference_row", { row: row[1], ref: found[2] }) : t("issue.unknown_reference", { ref: found[2] });
  },
  ({ where, problem }) => {
    const cell = where.match(CELL);
    if (!cell) return null;
    const rule = VALUE_RULES.find(([pattern]) => pattern.test(problem));
    const detail = rule ? rule[1](problem.match(rule[0])) : t("issue.value_other");
    return t("issue.bad_value", { row: cell[1], column: cell[2], detail });
  },
  ({ where, problem }) => {
    const size = problem.match(/^is (.+), over the (.+) limit$/);
    return size ? t("issue.file_too_large", { name: where, size: size[1], limit: size[2] }) : null;
  },
  ({ where, problem }) => {
    const pixels = problem.match(/^is (.+), which exceeds the (.+) limit$/);
    return pixels ? t("issue.too_many_pixels", { name: where, size: pixels[1], limit: pixels[2] }) : null;
  },
  ({ where, problem }) => {
    if (problem === "is empty (0 bytes)") return t("issue.empty_file", { name: where });
    return /not an image|which is not supported/.test(problem) ? t("issue.not_image", { name: where }) : null;
  },
  ({ problem }) => {
    const tasks = problem.match(/^(\d+) tasks, a batch may have at most (\d+)$/);
    return tasks ? t("issue.too_many_tasks", { n: tasks[1], max: tasks[2] }) : null;
  },
];

/** The issue in the page's language, or null when no rule knows it (or the page is English). */
export function translateIssue(issue) {
  if (lang === "en") return null;
  const full = { where: issue.where || "", problem: issue.problem || "", hint: issue.hint || "" };
  for (const rule of ISSUE_RULES) {
    const text = rule(full);
    if (text) return text;
  }
  return null;
}

/** The server's words for an issue, as the API gave them. */
export function serverWords(issue) {
  const text = issue.where ? `${issue.where}: ${issue.problem}` : issue.problem;
  return issue.hint ? `${text} (${issue.hint})` : text;
}

/** One <li> content: translated, with the original in a <details>; or the original. */
export function issueContent(issue) {
  const translated = translateIssue(issue);
  if (!translated) {
    const parts = [];
    if (issue.where) parts.push(h("strong", { text: `${issue.where}: ` }));
    parts.push(issue.problem + (issue.hint ? ` (${issue.hint})` : ""));
    return parts;
  }
  return [h("span", { class: "issue-text", text: translated }),
    h("details", { class: "server-words" }, h("summary", { text: t("issue.server_words") }), h("span", { lang: "en", text: serverWords(issue) }))];
}

/** A 413 or 402 headline with its figures, from the server's message or fields. */
export function sizedTitle(error) {
  if (error.status === 402 && error.body?.error?.needed !== undefined) {
    const { needed, available, shortfall } = error.body.error;
    const values = { needed, available, shortfall: shortfall ?? needed - available };
    return t("error.credits_detail", Object.fromEntries(Object.entries(values).map(([k, v]) => [k, formatCredits(v)])));
  }
  if (error.status === 413) {
    const files = error.message.match(/^too many files: at most (\d+)/);
    if (files) return t("error.too_many_files", { max: files[1] });
    const upload = error.message.match(/^the upload is too large: at most (\d+) files of (\d+) MB/);
    if (upload) return t("error.upload_limits", { files: upload[1], mb: upload[2] });
  }
  return null;
}
