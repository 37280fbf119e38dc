"""Test-only function: answers what it was given and what its instance remembers."""
import json
import os

INITIALIZED = 0
CALLS = 0


def initialize(context):
    global INITIALIZED
    INITIALIZED += 1
    print(f"echo initialize {context.request_id}")


def handler(event, context):
    global CALLS
    CALLS += 1
    print(f"echo handler call {CALLS}")
    return json.dumps({
        "event": event.decode("utf-8", errors="replace"), "eventType": type(event).__name__,
        "calls": CALLS, "initialized": INITIALIZED, "pid": os.getpid(), "requestId": context.request_id,
        "function": context.function.name, "memory": context.function.memory, "timeout": context.function.timeout,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("FC_", "SGRULE_", "ALIBABA_CLOUD_", "TEST_"))},
    })
