// Talking to the JSON API: the session cookie goes along by itself; requests that change
// something echo the CSRF cookie in X-CSRF-Token. Errors become ApiError with the
// server's message and issues; a lost session goes back to the login page.
import { t } from "./i18n.js";
import { codedTitle, issueContent } from "./messages.js";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
// Where a 401 means a wrong password, not a lost session.
const PASSWORD_CHECKS = ["/api/auth/login", "/api/auth/password"];

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)ib_csrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error;
    super(error?.message || (Array.isArray(body?.detail) ? t("error.invalid") : t("error.http", { status })));
    this.status = status;
    this.type = error?.type || "";
    this.code = error?.code || ""; // stable: "user_exists", "active_tasks"… (see errorTitle)
    this.params = error?.params || {};
    this.issues = error?.issues || validationIssues(body?.detail);
    this.body = body;
  }
}

function validationIssues(detail) {
  if (!Array.isArray(detail)) return [];
  return detail.map((item) => ({
    where: (item.loc || []).filter((part) => part !== "body").join(" › "),
    problem: item.msg,
    hint: "",
  }));
}

function toLogin() {
  const here = location.pathname + location.search + location.hash;
  location.assign(`/login?next=${encodeURIComponent(here)}`);
}

/** api("/api/batches", { method: "POST", json: {...} }) → parsed JSON (null for 204). */
export async function api(path, { method = "GET", json, form, raw = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (UNSAFE.has(method)) headers["X-CSRF-Token"] = csrfToken();
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { error: { message: t("error.network") } });
  }
  if (response.status === 401 && !PASSWORD_CHECKS.some((check) => path.startsWith(check))) {
    toLogin();
    throw new ApiError(401, { error: { message: t("error.session") } });
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, data);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** A multipart POST with upload progress (fetch cannot report it): onProgress(0..1). */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("X-CSRF-Token", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(request.responseText);
      } catch {
        data = null;
      }
      if (request.status === 401) toLogin();
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new ApiError(request.status, data));
    });
    request.addEventListener("error", () => reject(new ApiError(0, { error: { message: t("error.network") } })));
    request.send(form);
  });
}

/** A headline for an error, in the page's language: by its code where the catalogues know
 * it (a code says more than the status: "that name is taken", not "a conflict"), else by
 * its status. */
export function errorTitle(error) {
  const known = {
    402: "error.credits",
    403: "error.forbidden",
    404: "error.not_found",
    409: "error.conflict",
    413: "error.too_large",
    422: "error.invalid",
    429: "error.too_many",
  }[error.status];
  return codedTitle(error) || (known ? t(known) : error.message);
}

/** Fill a <ul> with an error's issues ("where: problem (hint)", or translated by
 * lib/messages.js with the server's words in a <details>); hidden when none. */
export function showIssues(list, error) {
  list.replaceChildren();
  const issues = error?.issues?.length ? error.issues : error ? [{ where: "", problem: error.message, hint: "" }] : [];
  for (const issue of issues) {
    const item = document.createElement("li");
    item.append(...issueContent(issue));
    list.append(item);
  }
  list.hidden = issues.length === 0;
}
