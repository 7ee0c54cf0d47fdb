// What every signed-in page shares: the credit balance in the top bar and logging out.
import { api } from "./api.js";
import { formatCredits, t } from "./i18n.js";

export const user = {
  name: document.body.dataset.user || "",
  admin: document.body.dataset.admin === "true",
};

const credits = document.getElementById("credits");

/** Show a balance in the top bar (pages that know it already pass it; others ask). */
export function showCredits(value) {
  if (!credits) return;
  credits.textContent = t("nav.credits_value", { credits: formatCredits(value) });
  credits.hidden = false;
}

export async function refreshCredits() {
  if (!credits) return null;
  const me = await api("/api/auth/me");
  showCredits(me.credits);
  return me.credits;
}

document.getElementById("logout")?.addEventListener("click", async () => {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } finally {
    location.assign("/login");
  }
});
