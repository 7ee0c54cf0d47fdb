"""The seed a task runs with when its user gave none.

Derived from the task's request key, not drawn at random: every attempt of a task, and any
later task with the same request, sends the same seed, so the recorded seed reproduces the
image. The key itself never contains the derived seed (it stays what the user asked for,
so --reuse and keys stored before still match).
"""

from __future__ import annotations

import hashlib

#: derived seeds stay below 2**31: every API we call that takes a seed accepts a signed
#: 32-bit one (Gemini's `seed` is int32); a provider with a smaller range narrows it further
DERIVED_SEED_LIMIT = 2**31


def derived_seed(request_key: str) -> int:
    """A seed drawn from the request key: equal requests get equal seeds, copies of one
    request (which differ by variant, so by key) different ones."""
    digest = hashlib.sha256(request_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % DERIVED_SEED_LIMIT
