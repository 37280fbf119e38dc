"""Test-only function that always raises."""


class BoomError(RuntimeError):
    pass


def handler(event, context):
    print(f"boom got {len(event)} bytes")
    raise BoomError("boom: " + event.decode("utf-8", errors="replace")[:64])
