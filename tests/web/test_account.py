"""The account page in a real browser: API tokens (used from httpx against the live server,
then revoked), an own provider key shown masked, the default webhook and its secret, and
changing the password (every session ends, the new password logs in)."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.web.conftest import OWN_OPENAI_KEY, PASSWORD, Browse, shot


def test_a_token_is_shown_once_works_for_scripts_and_is_revoked(web: Browse) -> None:
    page = web.login("erin")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("link", name="erin").click()
    page.wait_for_url("**/account")
    page.locator("body[data-ready]").wait_for()
    expect(page.locator("#account-credits")).to_have_text("1,000")
    expect(page.locator("#tokens-empty")).to_be_visible()
    page.get_by_label("Name").fill("nightly script")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Your new token")
    expect(secret).not_to_have_value("")
    token = secret.input_value()
    row = page.locator("#tokens-body tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text("nightly script")
    prefix = row.locator("code").inner_text().rstrip("…")
    assert token.startswith(prefix), (token, prefix)
    page.get_by_role("button", name="Copy").first.click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token

    me = httpx.get(f"{web.live.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "erin"
    page.reload()
    expect(page.locator("#token-new")).to_be_hidden()  # shown once only
    expect(row.locator("td").nth(3)).not_to_have_text("never")
    shot(page, "account")

    page.get_by_role("button", name="Revoke token nightly script").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token revoked.")).to_be_visible()
    expect(row).to_have_count(0)
    gone = httpx.get(f"{web.live.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401


def test_an_own_key_is_listed_masked_and_removed(web: Browse) -> None:
    page = web.login("erin")
    page.goto("/account")
    openai = page.locator(".key-row[data-provider=openai]")
    expect(openai.locator(".key-state")).to_contain_text("Not set")
    expect(page.locator(".key-row[data-provider=demo]")).to_have_count(0)  # takes no keys
    openai.get_by_label("Your API key for openai").fill("short")
    openai.get_by_role("button", name="Save your openai key").click()
    expect(openai.locator(".issues")).to_contain_text("at least 8 characters")
    openai.get_by_label("Your API key for openai").fill(OWN_OPENAI_KEY)
    openai.get_by_role("button", name="Save your openai key").click()
    expect(openai.locator(".key-state code")).to_have_text("•••• 4321")
    page.reload()
    expect(openai.locator(".key-state code")).to_have_text("•••• 4321")
    assert OWN_OPENAI_KEY not in page.content()
    assert OWN_OPENAI_KEY not in page.request.get("/api/auth/provider-keys").text()
    shot(page, "account-own-key")

    openai.get_by_role("button", name="Remove your openai key").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(openai.locator(".key-state")).to_contain_text("Not set")


def test_default_webhook_and_a_new_secret(web: Browse) -> None:
    page = web.login("erin")
    page.goto("/account")
    secret = page.get_by_label("Signing secret")
    expect(secret).not_to_have_value("")
    expect(secret).to_have_attribute("type", "password")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(secret).to_have_attribute("type", "text")
    first = secret.input_value()
    web.console.allow("status of 422")
    page.get_by_label("Webhook URL").fill("not a url")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#webhook-issues")).to_contain_text("url")
    page.get_by_label("Webhook URL").fill("https://hooks.example.com/imagebatch")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Webhook saved.")).to_be_visible()
    page.get_by_role("button", name="New secret").click()
    page.get_by_role("dialog").get_by_role("button", name="New secret").click()
    expect(page.get_by_text("A new secret is in place.")).to_be_visible()
    expect(secret).not_to_have_value(first)
    page.reload()
    expect(page.get_by_label("Webhook URL")).to_have_value("https://hooks.example.com/imagebatch")
    assert page.get_by_label("Signing secret").input_value() != first


def test_changing_the_password_ends_the_sessions_and_the_new_one_logs_in(web: Browse) -> None:
    page = web.login("grace")
    other = web.login("grace")  # a second session, ended too
    page.goto("/account")
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill("wrong password")
    form.get_by_label("New password", exact=True).fill("a-new-password")
    form.get_by_label("New password again").fill("a-new-password")
    form.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-issues")).to_have_text("The current password is wrong.")
    expect(page).to_have_url("/account")
    web.console.allow("status of 401")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/login?next=/account&changed=1")
    expect(page.locator("#login-changed")).to_be_visible()
    shot(page, "login-password-changed")
    assert other.request.get("/api/auth/me").status == 401
    page.locator("#login-name").fill("grace")
    page.locator("#login-password").fill("a-new-password")
    page.locator("#login-submit").click()
    page.wait_for_url("**/account")
    expect(page.get_by_role("heading", name="Account of grace")).to_be_visible()
