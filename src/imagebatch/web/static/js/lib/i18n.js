// The page's message catalogue (the same JSON the server renders templates with) and
// number, date and size formatting in the page's language.
export const lang = document.documentElement.lang || "en";

const response = await fetch(`/static/i18n/${lang}.json`, { credentials: "same-origin" });
const messages = response.ok ? await response.json() : {};

/** The message for `key`: plural forms chosen, then {name} placeholders filled from `values`. */
export function t(key, values = {}) {
  let text = plurals(messages[key] ?? key, values);
  for (const [name, value] of Object.entries(values)) {
    text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

// ICU MessageFormat's plural argument, the subset the catalogues use (no nesting, no offset):
// "{n, plural, one {# credit} other {# credits}}", "#" standing for the value as passed.
// Intl.PluralRules knows each language's forms (English one/other; Chinese has only other).
const PLURAL = /\{(\w+), plural,((?:\s*(?:=\d+|zero|one|two|few|many|other)\s*\{[^{}]*\})+)\s*\}/g;
const FORM = /(=\d+|zero|one|two|few|many|other)\s*\{([^{}]*)\}/g;
const pluralRules = new Intl.PluralRules(lang);

function plurals(text, values) {
  return text.replace(PLURAL, (whole, name, forms) => {
    if (!(name in values)) return whole;
    const shown = String(values[name]);
    // Callers pass numbers already formatted ("1,234.5"): group separators go before counting.
    const count = typeof values[name] === "number" ? values[name] : Number(shown.replace(/[^\d.-]/g, ""));
    const byForm = Object.fromEntries([...forms.matchAll(FORM)].map(([, form, words]) => [form, words]));
    const words = byForm[`=${count}`] ?? byForm[pluralRules.select(count)] ?? byForm.other;
    return words.replaceAll("#", shown);
  });
}

const numbers = new Intl.NumberFormat(lang);
const credits = new Intl.NumberFormat(lang, { minimumFractionDigits: 0, maximumFractionDigits: 4 });
const dates = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
const relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });

export const formatNumber = (value) => numbers.format(value);
export const formatCredits = (value) => credits.format(value);
export const formatDate = (value) => (value ? dates.format(new Date(value)) : "–");
/** "a, b and c" / "a、b和c" */
export const formatList = (items) => new Intl.ListFormat(lang, { type: "conjunction" }).format(items);

export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${new Intl.NumberFormat(lang, { maximumFractionDigits: unit ? 1 : 0 }).format(size)} ${units[unit]}`;
}

/** "3 minutes ago", "yesterday"… */
export function formatAgo(value) {
  if (!value) return "–";
  const seconds = (new Date(value).getTime() - Date.now()) / 1000;
  const steps = [[60, "second"], [3600, "minute"], [86400, "hour"], [604800, "day"]];
  for (const [limit, unit] of steps) {
    if (Math.abs(seconds) < limit) {
      const divisor = { second: 1, minute: 60, hour: 3600, day: 86400 }[unit];
      return relative.format(Math.round(seconds / divisor), unit);
    }
  }
  return formatDate(value);
}

/** "1 h 5 min", "42 s" */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return t("time.seconds", { n: s });
  if (s < 3600) return t("time.minutes", { m: Math.floor(s / 60), s: s % 60 });
  return t("time.hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}
