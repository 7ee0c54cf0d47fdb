"""What a batch will cost before it runs: price per image × images, per provider and model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from imagebatch.domain.capabilities import ProviderCapabilities


@dataclass(frozen=True, slots=True)
class EstimateLine:
    provider: str
    model: str
    images: int
    price_per_image: float
    #: share of the price saved (economy mode: the provider's batch discount)
    discount: float = 0.0

    @property
    def full_cost(self) -> float:
        return self.images * self.price_per_image

    @property
    def cost(self) -> float:
        return self.full_cost * (1 - self.discount)


@dataclass(frozen=True, slots=True)
class Estimate:
    lines: tuple[EstimateLine, ...]
    #: images taken from earlier identical requests (--reuse): free
    reused: int = 0

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    @property
    def saving(self) -> float:
        """What economy mode saves against the normal price."""
        return sum(line.full_cost - line.cost for line in self.lines)

    def describe(self) -> str:
        parts = [
            f"{line.images} × {line.provider}/{line.model} at {line.price_per_image:g}"
            + (f" −{line.discount:.0%} batch discount" if line.discount else "")
            for line in self.lines
        ]
        free = f", {self.reused} reused for free" if self.reused else ""
        saved = f"; economy mode saves {self.saving:.4g}" if self.saving else ""
        return f"{self.total:.4g} ({'; '.join(parts)}{free}){saved}"


def price_of(caps: ProviderCapabilities, model: str, overrides: Mapping[str, float]) -> float:
    """The configured price ("provider/model" in IMAGEBATCH_PRICES) or the provider's own."""
    override = overrides.get(f"{caps.provider}/{model}")
    if override is not None:
        return override
    found = caps.model(model)
    return found.price_per_image if found else 0.0


def estimate(
    requests: Iterable[tuple[str, str]],
    capabilities: Mapping[str, ProviderCapabilities],
    overrides: Mapping[str, float],
    reused: int = 0,
    discounts: Mapping[str, float] | None = None,
) -> Estimate:
    """`discounts`: share of the price saved per provider (economy mode)."""
    counts = Counter(requests)
    lines = tuple(
        EstimateLine(
            p, m, n, price_of(capabilities[p], m, overrides), (discounts or {}).get(p, 0.0)
        )
        for (p, m), n in sorted(counts.items())
    )
    return Estimate(lines, reused)
