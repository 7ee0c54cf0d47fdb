"""The security tests attack a real `imagebatch serve` app on a real socket: the API tests'
harness (tests/api/conftest.py), shared here."""

from tests.api.conftest import api, api_settings, providers, site

__all__ = ["api", "api_settings", "providers", "site"]
