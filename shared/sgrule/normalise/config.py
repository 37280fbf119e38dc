"""The normaliser's settings: the common ones plus the policy, the regions, the pace and the resume cursor."""
from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import NoDecode
from typing_extensions import Annotated

from ..runtime.config import EcsCallerSettings, _csv


class NormaliseSettings(EcsCallerSettings):
    # The policy file (YAML); unset: the default shipped in sgrule/normalise/default_policy.yml.
    normalise_policy: str | None = None
    # Regions to scan when the invocation names none: comma-separated, concrete names. Unset: the concrete
    # names in SGRULE_ALLOWED_REGIONS (a glob there cannot say which regions exist).
    normalise_regions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # API budget per region (ECS quotas are per account, region and API) and threads reading groups.
    normalise_calls_per_second: float = Field(10.0, gt=0, le=10000)
    normalise_concurrency: int = Field(8, ge=1, le=64)
    # A pass that outlives an invocation: how long its cursor waits for the next trigger, how often it is
    # saved during an invocation, and how many rules the report lists (the counts are always complete).
    normalise_cursor_ttl_s: float = Field(8 * 24 * 3600, gt=0)
    normalise_checkpoint_s: float = Field(5.0, gt=0)
    normalise_report_max_items: int = Field(1000, ge=0)

    _split_regions = field_validator("normalise_regions", mode="before")(_csv)
