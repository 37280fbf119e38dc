"""Test-only function: sleeps as long as it is told (in seconds), to cross its timeout."""
import os
import time

INITIALIZED = 0


def initialize(context):
    global INITIALIZED
    INITIALIZED += 1


def handler(event, context):
    time.sleep(float(event or b"0"))
    return {"pid": os.getpid(), "initialized": INITIALIZED}
