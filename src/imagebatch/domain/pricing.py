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

    @property
    def cost(self) -> float:
        return self.images * self.price_per_image


@dataclass(frozen=True, slots=True)
class Estimate:
    lines: tuple[EstimateLine, ...]
    #: images taken from earlier identical requests (--reuse): free
    reused: int = 0

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    def describe(self) -> str:
        parts = [
            f"{line.images} × {line.provider}/{line.model} at {line.price_per_image:g}"
            for line in self.lines
        ]
        free = f", {self.reused} reused for free" if self.reused else ""
        return f"{self.total:.4g} ({'; '.join(parts)}{free})"


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
) -> Estimate:
    counts = Counter(requests)
    lines = tuple(
        EstimateLine(p, m, n, price_of(capabilities[p], m, overrides))
        for (p, m), n in sorted(counts.items())
    )
    return Estimate(lines, reused)
