from __future__ import annotations

from imagebatch.domain.capabilities import ModelCapabilities, ProviderCapabilities
from imagebatch.domain.pricing import estimate, price_of

CAPS = ProviderCapabilities(
    "openai",
    "gpt-image-1",
    {
        "gpt-image-1": ModelCapabilities("gpt-image-1", price_per_image=0.04),
        "gpt-image-1-mini": ModelCapabilities("gpt-image-1-mini", price_per_image=0.01),
    },
)


def test_overrides_win_over_the_providers_price() -> None:
    assert price_of(CAPS, "gpt-image-1", {}) == 0.04
    assert price_of(CAPS, "gpt-image-1", {"openai/gpt-image-1": 0.17}) == 0.17


def test_estimate_adds_up_per_model_and_counts_reuse_as_free() -> None:
    found = estimate(
        [("openai", "gpt-image-1")] * 3 + [("openai", "gpt-image-1-mini")] * 2,
        {"openai": CAPS},
        {},
        reused=4,
    )
    assert round(found.total, 6) == 0.14
    assert found.describe() == (
        "0.14 (3 × openai/gpt-image-1 at 0.04; 2 × openai/gpt-image-1-mini at 0.01, "
        "4 reused for free)"
    )


def test_economy_discount_lowers_the_cost_and_shows_the_saving() -> None:
    found = estimate(
        [("openai", "gpt-image-1")] * 10, {"openai": CAPS}, {}, discounts={"openai": 0.5}
    )
    assert round(found.total, 6) == 0.2 and round(found.saving, 6) == 0.2
    assert found.describe() == (
        "0.2 (10 × openai/gpt-image-1 at 0.04 −50% batch discount); economy mode saves 0.2"
    )
    assert estimate([("openai", "gpt-image-1")], {"openai": CAPS}, {}).saving == 0
