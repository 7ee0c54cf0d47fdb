"""The page routes: each renders a shell (navigation, language, data-* attributes) whose
script fetches the JSON API. No session: off to /login?next=…; admin pages: a 403 page
for everyone else."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from imagebatch import __version__
from imagebatch.api.deps import ObjectId
from imagebatch.domain.accounts import User
from imagebatch.web.i18n import LANG_COOKIE, LANGUAGES, choose_language, translate
from imagebatch.web.security import secured
from imagebatch.web.session import page_user

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
ONE_YEAR = 365 * 86400

#: admin pages: path -> (template, navigation entry)
ADMIN_PAGES = {
    "/admin": "admin_monitor",
    "/admin/settings": "admin_settings",
    "/admin/presets": "admin_presets",
    "/admin/users": "admin_users",
}


def language_of(request: Request) -> str:
    return choose_language(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language", "")
    )


def safe_next(target: str | None, default: str = "/compose") -> str:
    """Only a path on this site: never `//other.host` or a full URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def render(
    request: Request,
    page: str,
    user: User | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    lang = language_of(request)
    response = templates.TemplateResponse(
        request,
        f"{page}.html",
        {
            "lang": lang,
            "other_lang": next(code for code in LANGUAGES if code != lang),
            "t": partial(translate, lang),
            "user": user,
            "page": page,
            "version": __version__,
            "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status_code,
    )
    return secured(response)


async def signed_in(request: Request) -> User | Response:
    user = await page_user(request)
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return secured(RedirectResponse(f"/login?next={quote(path)}", status.HTTP_303_SEE_OTHER))
    return user


async def user_page(request: Request, page: str, **context: Any) -> Response:
    found = await signed_in(request)
    if isinstance(found, Response):
        return found
    return render(request, page, found, **context)


@router.get("/")
async def home(request: Request) -> Response:
    target = "/compose" if await page_user(request) else "/login"
    return secured(RedirectResponse(target, status.HTTP_303_SEE_OTHER))


@router.get("/login")
async def login(request: Request, next: str | None = None, changed: bool = False) -> Response:
    """`changed`: the password was just changed (every session ended), say so."""
    user = await page_user(request)
    if user is not None:
        return secured(RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER))
    return render(request, "login", None, next_page=safe_next(next), password_changed=changed)


@router.get("/lang/{code}")
async def switch_language(code: str, next: str | None = None) -> Response:
    """Remember the chosen language (a link, so it works without scripts too)."""
    response = RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=ONE_YEAR, samesite="lax")
    return secured(response)


@router.get("/compose")
async def compose(request: Request) -> Response:
    return await user_page(request, "compose")


@router.get("/batches")
async def batches(request: Request) -> Response:
    return await user_page(request, "batches")


@router.get("/batches/{batch_id}")
async def batch(request: Request, batch_id: ObjectId) -> Response:
    return await user_page(request, "batch", batch_id=batch_id)


@router.get("/account")
async def account(request: Request) -> Response:
    return await user_page(request, "account")


@router.get("/history")
async def history(request: Request) -> Response:
    return await user_page(request, "history")


async def admin_page(request: Request) -> Response:
    found = await signed_in(request)
    if isinstance(found, Response):
        return found
    page = ADMIN_PAGES[request.url.path.rstrip("/") or "/admin"]
    if not found.is_admin:
        return render(request, "forbidden", found, status.HTTP_403_FORBIDDEN)
    return render(request, page, found, admin_pages=ADMIN_PAGES)


for _path in ADMIN_PAGES:
    router.add_api_route(_path, admin_page, methods=["GET"])


async def not_found(request: Request) -> Response:
    """A page that is not there, as a page in the reader's language (the API answers JSON)."""
    return render(request, "not_found", await page_user(request), status.HTTP_404_NOT_FOUND)
