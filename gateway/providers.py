"""The provider registry: one line per provider.

A provider's knowledge lives in its verifier (`verifiers/<name>.py`), its payload
models and normalizer (`schemas/<name>.py`) and its handlers (`consumers/`);
this table is the only place the gateway names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import schemas.calendly
import schemas.ghl
import schemas.google
import schemas.pco
import verifiers.calendly
import verifiers.ghl
import verifiers.google
import verifiers.pco
from schemas import Delivery, Normalized
from verifiers import Verifier, VerifierConfig


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    build_verifier: Callable[[VerifierConfig], Verifier]
    normalize: Callable[[Delivery], Normalized]
    secret: bool = False
    """Sources take a shared signing secret (`secret` in the admin API)."""
    credentials: bool = False
    """Sources take OAuth credentials (`credentials` in the admin API)."""
    retry_status: int = 503
    """What to answer when nothing can make the event durable: the status it retries."""


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("google", verifiers.google.build, schemas.google.normalize, credentials=True),
        Provider("calendly", verifiers.calendly.build, schemas.calendly.normalize, secret=True),
        Provider("pco", verifiers.pco.build, schemas.pco.normalize, secret=True),
        Provider("ghl", verifiers.ghl.build, schemas.ghl.normalize, retry_status=429),
    )
}
