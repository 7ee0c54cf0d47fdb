"""The web UI served by `imagebatch serve`: server-rendered page shells (Jinja2) whose small
ES modules talk to the JSON API under /api. No build step: static files ship as they are."""

from imagebatch.web.install import install_web

__all__ = ["install_web"]
