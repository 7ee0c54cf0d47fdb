// Login: POST /api/auth/login (sets the session and CSRF cookies), then on to `next`.
import { ApiError, api } from "../lib/api.js";
import { t } from "../lib/i18n.js";
import { codedTitle } from "../lib/messages.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

// After a password change (see account.js): how many API tokens ended with the old password.
const revoked = Number(new URLSearchParams(location.search).get("tokens"));
const changed = document.getElementById("login-changed");
if (changed && revoked > 0) changed.textContent += ` ${t("login.tokens_revoked", { count: revoked })}`;

function fail(message, field) {
  error.textContent = message;
  error.hidden = false;
  field?.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = form.elements.name.value.trim();
  const password = form.elements.password.value;
  if (!name) return fail(t("login.need_name"), form.elements.name);
  if (!password) return fail(t("login.need_password"), form.elements.password);
  error.hidden = true;
  submit.disabled = true;
  try {
    await api("/api/auth/login", { method: "POST", json: { name, password } });
    location.assign(document.body.dataset.next || "/compose");
  } catch (caught) {
    submit.disabled = false;
    if (!(caught instanceof ApiError)) throw caught;
    if (caught.status === 401) fail(t("login.wrong"), form.elements.password);
    // Which throttle (this address, this user from here, this user everywhere) and for how long.
    else if (caught.status === 429) fail(codedTitle(caught) || t("login.throttled"));
    else fail(caught.message);
  }
});
