"""Cost of validating one rule-change event, against baselines measured in the same run.

Prints microseconds per event for: json.loads of the event text (baseline: the parse FC makes anyway),
sgrule's parse_event on the decoded event, and both together; the target is well under a millisecond.
Run: .venv/bin/python bench/bench_validate.py
"""
from __future__ import annotations

import argparse
import json
import timeit
from pathlib import Path

from sgrule.contract.event import parse_event

SAMPLES = Path(__file__).resolve().parents[1] / "events" / "rule-change" / "valid.json"


def per_call_us(fn, number: int = 5000, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    events = json.loads(SAMPLES.read_text())
    texts = [json.dumps(e) for e in events]
    baseline = per_call_us(lambda: [json.loads(t) for t in texts]) / len(texts)
    validate = per_call_us(lambda: [parse_event(e) for e in events]) / len(events)
    both = per_call_us(lambda: [parse_event(json.loads(t)) for t in texts]) / len(texts)
    print(f"{'what':<34}{'us/event':>10}{'x json.loads':>14}")
    for name, us in [("json.loads (baseline)", baseline), ("parse_event", validate), ("json.loads + parse_event", both)]:
        print(f"{name:<34}{us:>10.1f}{us / baseline:>14.1f}")
    print(f"validation: {validate:.1f} us/event = {validate / 1000:.3f} ms (target: well under 1 ms)")


if __name__ == "__main__":
    main()
