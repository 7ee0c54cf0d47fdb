"""/api/auth/provider-keys: your own provider API keys (BYOK).

Batches you create while you have a key for their provider run on that key and cost no
credits. Keys are stored encrypted and never shown again: only their last four characters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from imagebatch.api.deps import AppDep, CurrentUser
from imagebatch.api.errors import responses
from imagebatch.api.routes.catalog import takes_own_keys
from imagebatch.app import App
from imagebatch.errors import InputError, InputIssue
from imagebatch.store.provider_keys import OwnKey

router = APIRouter(prefix="/api/auth/provider-keys", tags=["auth"])

ProviderName = Annotated[str, Path(min_length=1, max_length=50)]


class OwnKeyIn(BaseModel):
    api_key: str = Field(min_length=8, max_length=4000)


class OwnKeyOut(BaseModel):
    provider: str
    last4: str
    created_at: datetime

    @classmethod
    def of(cls, key: OwnKey) -> OwnKeyOut:
        return cls(provider=key.provider, last4=key.last4, created_at=key.created_at)


def _check_provider(app: App, provider: str) -> None:
    taking = sorted(n for n, p in app.providers.items() if takes_own_keys(p))
    if provider not in taking:
        raise InputError(
            InputIssue(
                f"provider {provider!r}",
                "does not take API keys",
                f"providers that do: {', '.join(taking)}",
                "provider_takes_no_key",
                {"provider": provider, "known": ", ".join(taking)},
            )
        )


@router.get("", responses=responses(401))
async def list_own_keys(user: CurrentUser, app: AppDep) -> list[OwnKeyOut]:
    return [OwnKeyOut.of(k) for k in await app.own_keys.repo.of_owner(user.owner)]


@router.put("/{provider}", responses=responses(401, 403, 422))
async def save_own_key(
    provider: ProviderName, body: OwnKeyIn, user: CurrentUser, app: AppDep
) -> OwnKeyOut:
    """Store (or replace) your key for a provider, encrypted."""
    _check_provider(app, provider)
    return OwnKeyOut.of(await app.own_keys.save(user.owner, provider, body.api_key))


@router.delete(
    "/{provider}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404)
)
async def delete_own_key(provider: ProviderName, user: CurrentUser, app: AppDep) -> None:
    await app.own_keys.repo.delete(user.owner, provider)
