"""The apply function's settings: the common ones plus how it works through a batch."""
from __future__ import annotations

from pydantic import Field

from ..runtime.config import EcsCallerSettings


class ApplySettings(EcsCallerSettings):
    outcome_source: str = "sgrule/apply"
    concurrency: int = Field(16, ge=1, le=256)  # rules worked on at once
    max_deliveries: int = Field(5, ge=1)  # then a change still failing transiently ends as `failed`
    # Claims and rule locks are leases this long, renewed every third of it while the instance lives: a
    # killed instance holds up others' work on its changes and rules for one lease at most.
    lease_s: float = Field(6.0, ge=0.5, le=300)
    # Guardrails (README, Guardrails): a policy file of CEL expressions every change must pass, relative to
    # the function's code root. Unset or empty: no guardrails. Set but unusable: every change is rejected.
    guardrails_file: str | None = None
