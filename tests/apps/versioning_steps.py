"""Steps shared by both versions of the workflows of docs/versioning.md (tests/apps/versioning_v*.py)."""

from __future__ import annotations

import flowgen


@flowgen.step(name="versioning.reserve", retries=0)
def reserve(n: int) -> str:
    return f"reserved {n}"


@flowgen.step(name="versioning.audit", retries=0)
def audit(n: int) -> str:
    return f"audited {n}"


@flowgen.step(name="versioning.ship", retries=0)
def ship(n: int) -> str:
    return f"shipped {n}"


@flowgen.step(name="versioning.charge", retries=0)
def charge(n: int, currency: str = "USD") -> str:
    return f"charged {n} {currency}"
