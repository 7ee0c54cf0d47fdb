// The server's error messages in the page's language. The API speaks English: each issue
// is {where, problem, hint}. For the kinds users meet most (an unknown column, a bad value
// in a row, an empty prompt, a file too large or not an image, an unknown reference, too
// many files or tasks, too few credits; and what the hardening added: a prompt or a table too
// large, a table that takes too long to read, a row's provider, a refused reference URL, a
// throttled login) the message is rebuilt here from those fields; the
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

/** "Row 3: …" when the issue is about a table row, else the text alone. */
function inRow(where, text) {
  const row = where.match(ROW);
  return row ? t("issue.in_row", { row: row[1], text }) : text;
}

/** Issues named by a cell ("row 3, column prompt") that are not a bad value of the column:
 * checked before the generic cell rule. */
const ROW_ISSUE_RULES = [
  ({ where, problem }) => {
    const long = problem.match(/^the prompt has ([\d,]+) characters, at most ([\d,]+) are allowed$/);
    if (!long) return null;
    const variant = where.match(/^prompt (\d+)$/);
    const values = { chars: long[1], max: long[2] };
    if (variant) return t("issue.prompt_too_long_variant", { n: variant[1], ...values });
    return inRow(where, t("issue.prompt_too_long", values));
  },
  ({ where, problem, hint }) => {
    const found = problem.match(new RegExp(`^(?:provider ${QUOTED} )?(does not exist|is not configured)(?: \\((\\d+) more)?`));
    if (!found) return null;
    const named = found[2] ?? where.match(new RegExp(`^provider ${QUOTED}$`))?.[2];
    if (named === undefined) return null;
    const known = hint.replace(/^use one of: /, "");
    const text = found[3] === "does not exist" ? t("issue.unknown_provider", { provider: named, known }) : t("issue.provider_unconfigured", { provider: named });
    return inRow(where, found[4] ? `${text}${t("issue.provider_more_rows", { n: found[4] })}` : text);
  },
  ({ where, problem }) => {
    const refused = problem.match(/^(.+) points to a private or local address \((.+)\)$/);
    if (refused) return inRow(where, t("issue.url_private", { url: refused[1], address: refused[2] }));
    const unresolved = problem.match(/^cannot resolve (.+)$/);
    return unresolved ? inRow(where, t("issue.url_unresolvable", { host: unresolved[1] })) : null;
  },
];

/** A task table that cannot be taken as it is (too wide, too long, too slow or too big to read). */
const TABLE_RULES = [
  [/^has more than (\d+) columns$/, (name, m) => t("issue.too_many_columns", { name, max: m[1] })],
  [/^has more than ([\d,]+) task (?:row|line)s, the limit for one batch$/, (name, m) => t("issue.too_many_rows", { name, max: m[1] })],
  [/^took longer than (.+) s to read$/, (name, m) => t("issue.table_timeout", { name, seconds: m[1] })],
  [/^could not be read \(it needs too much memory\)$/, (name) => t("issue.table_memory", { name })],
  [/^unpacks to ([\d,]+) MB, more than a task table needs \(at most ([\d,]+) MB\)$/, (name, m) => t("issue.table_unpacked", { name, size: m[1], max: m[2] })],
  [/^has more than (\d+) form fields$/, (_name, m) => t("issue.too_many_fields", { max: m[1] })],
];

/** FastAPI's own validation of a field (pydantic's wording), for the common bounds. */
const FIELD_RULES = [
  [/^Input should be less than or equal to (-?[\d.]+)$/, (field, m) => t("issue.field_max", { field, max: m[1] })],
  [/^Input should be greater than or equal to (-?[\d.]+)$/, (field, m) => t("issue.field_min", { field, min: m[1] })],
  [/^Input should be a valid integer/, (field) => t("issue.field_integer", { field })],
  [/^String should have at most (\d+) characters?$/, (field, m) => t("issue.field_chars", { field, max: m[1] })],
];

/** Issue rules: (issue) → translated text, or null when the rule does not fit. */
const ISSUE_RULES = [
  ...ROW_ISSUE_RULES,
  ({ where, problem }) => {
    const rule = TABLE_RULES.find(([pattern]) => pattern.test(problem));
    return rule ? rule[1](where.replace(/, header$/, ""), problem.match(rule[0])) : null;
  },
  ({ where, problem, hint }) => {
    const rule = hint === "see the API schema at /docs" && FIELD_RULES.find(([pattern]) => pattern.test(problem));
    return rule ? rule[1](where, problem.match(rule[0])) : null;
  },
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

/** A 413, 402 or 429 headline with its figures, from the server's message or fields. */
export function sizedTitle(error) {
  if (error.status === 402 && error.body?.error?.needed !== undefined) {
    const { needed, available, shortfall } = error.body.error;
    const values = { needed, available, shortfall: shortfall ?? needed - available };
    return t("error.credits_detail", Object.fromEntries(Object.entries(values).map(([k, v]) => [k, formatCredits(v)])));
  }
  if (error.status === 429 && error.body?.error?.limit !== undefined) {
    const { limit, active, requested } = error.body.error;
    return t("error.active_tasks", { limit, active, requested });
  }
  if (error.status === 429) return throttledTitle(error.message);
  if (error.status === 413) {
    const body = error.message.match(/^the request body is over the (.+?) limit:/);
    if (body) return t("error.body_too_large", { limit: body[1] });
    const fields = error.message.match(/^the form fields are over (.+)$/);
    if (fields) return t("error.form_too_large", { limit: fields[1] });
    const files = error.message.match(/^too many files: at most (\d+)/);
    if (files) return t("error.too_many_files", { max: files[1] });
    const upload = error.message.match(/^the upload is too large: at most (\d+) files of (\d+) MB/);
    if (upload) return t("error.upload_limits", { files: upload[1], mb: upload[2] });
  }
  return null;
}

/** Failed logins, by what is throttled: this user from this address, this address, or
 * this user from everywhere (then an administrator may unlock it); null for other 429s. */
const THROTTLED = [
  [/^too many failed logins for this user from your address; try again in (\d+) min/, "login.throttled_pair"],
  [/^too many failed logins from your address; try again in (\d+) min/, "login.throttled_address"],
  [/^too many failed logins for this user from many addresses; logins are paused for (\d+) min/, "login.throttled_user"],
];

export function throttledTitle(message) {
  for (const [pattern, key] of THROTTLED) {
    const found = (message || "").match(pattern);
    if (found) return t(key, { minutes: found[1] });
  }
  return null;
}
