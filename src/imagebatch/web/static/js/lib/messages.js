// The server's errors in the page's language. The API gives each error and each of its
// issues a stable `code` and the `params` its message is made of (docs/server-api.md lists
// them): the catalogues' `issue.<code>` and `error.<code>` say it again, filled with those
// params, and the server's own words stay one click away in a <details>. Nothing is rebuilt
// from the English text. English pages show an issue in the server's words (they are English
// already); so does any page for a code the catalogues do not know.
import { h } from "./dom.js";
import { formatCredits, formatNumber, lang, t } from "./i18n.js";

/** Whether the catalogue has `key` (t() answers the key itself when it has not). */
const known = (key) => t(key) !== key;

/** Params that are credits; the rest of the numbers are counts and sizes. */
const CREDITS = new Set(["needed", "available", "shortfall"]);
/** Numbers shown as the user wrote or the server numbered them: a value, a row. */
const AS_GIVEN = new Set(["value", "row"]);

/** Params as the page shows them: counts grouped ("10,000"), credits as credits. */
function shown(params) {
  return Object.fromEntries(
    Object.entries(params || {}).map(([name, value]) => {
      if (typeof value !== "number" || AS_GIVEN.has(name)) return [name, value];
      return [name, CREDITS.has(name) ? formatCredits(value) : formatNumber(value)];
    }),
  );
}

/** An issue's message, placed: "Row 3, column “count”: …" for a bad value in a cell, "Row 3:
 * …" for a row's other problems (or the code's own `_row` message, when it has one). */
function placed(code, params, text) {
  const { row, column } = params;
  if (row === undefined) return text;
  // a typed cell names its column by key ("count"): the page's own heading for it instead
  const heading = known(`col.${column}`) ? t(`col.${column}`) : column;
  if (code.startsWith("value_") && column !== undefined) return t("issue.bad_value", { row, column: heading, detail: text });
  if (known(`issue.${code}_row`)) return t(`issue.${code}_row`, params);
  return t("issue.in_row", { row, text });
}

/** The issue in the page's language, or null when the page is English or the code unknown. */
export function translateIssue(issue) {
  const code = issue.code || "";
  if (lang === "en" || !code || !known(`issue.${code}`)) return null;
  const params = shown(issue.params);
  let text = t(`issue.${code}`, params);
  // a provider named by several rows is reported once, at the first: "(2 more rows name it)"
  if (issue.params?.more > 0) text += t("issue.provider_more_rows", { n: params.more });
  return placed(code, params, text);
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

/** An error's headline from its code ("error.<code>", or the older "code.<code>"), filled
 * with its params; null for a code the catalogues do not know. */
export function codedTitle(error) {
  const code = error?.code || "";
  const key = [`error.${code}`, `code.${code}`].find((candidate) => code && known(candidate));
  return key ? t(key, shown(error.params)) : null;
}
