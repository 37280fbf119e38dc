"""JSON Schemas of the event contracts, generated from the pydantic models (never hand-written)."""
from __future__ import annotations

from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: Any, schema_id: str, title: str) -> dict[str, Any]:
    schema = _drop_null(model.model_json_schema(mode="validation"))
    return {"$schema": DRAFT, "$id": schema_id, **schema, "title": title}


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name under schemas/ -> schema."""
    from .event import RuleChangeEvent

    out = {
        "rule-change.schema.json": _schema(
            RuleChangeEvent, "https://sgrule.dev/schemas/rule-change.schema.json",
            "sgrule rule-change event (CloudEvents 1.0, type sgrule.egress.modify)"),
    }
    from .outcome_schema import OutcomeEvent

    out["outcome.schema.json"] = _schema(
        OutcomeEvent, "https://sgrule.dev/schemas/outcome.schema.json",
        "sgrule outcome event (CloudEvents 1.0, type sgrule.egress.modify.<status>)")
    return out


def _drop_null(node: Any) -> Any:
    """Optional fields are omitted, never null (null is rejected): show them as their plain type."""
    if isinstance(node, list):
        return [_drop_null(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _drop_null(v) for k, v in node.items()}
    variants = out.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants and "default" in out and out["default"] is None:
        rest = [v for v in variants if v != {"type": "null"}]
        del out["anyOf"], out["default"]
        out.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    return out
