"""localcloud ECS 2014-05-26: security groups, egress rules, prefix lists (moto style).

models.py = state, validation.py = stateless checks, egress.py = rule actions, responses.py = wire layer,
exceptions.py = the one table of error codes. Independent of sgrule: never import it here.
"""
from __future__ import annotations

from localcloud.ecs.responses import EcsService

__all__ = ["EcsService"]
