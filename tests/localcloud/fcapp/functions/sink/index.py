"""Test-only function: appends every event it receives to $SINK_FILE (one JSON line each)."""
import json
import os


def handler(event, context):
    with open(os.environ["SINK_FILE"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"requestId": context.request_id, "event": event.decode("utf-8")}) + "\n")
    return "ok"
