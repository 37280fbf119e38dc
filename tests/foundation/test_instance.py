"""Per-instance state: one typed object per function, built once, and a function's reset() resets it alone."""
from __future__ import annotations

from sgrule.runtime.instance import reset, shared


class Built:
    closed: list[str] = []

    def __init__(self, name: str) -> None:
        self.name = name

    def close(self) -> None:
        Built.closed.append(self.name)


def test_state_is_built_once_and_a_reset_closes_only_its_function() -> None:
    Built.closed.clear()
    first = shared("test-a", lambda: Built("a"), Built)
    other = shared("test-b", lambda: Built("b"), Built)
    assert shared("test-a", lambda: Built("a2"), Built) is first  # built once per instance
    reset("test-a")
    assert Built.closed == ["a"]
    assert shared("test-b", lambda: Built("b2"), Built) is other  # the other function's state is untouched
    assert shared("test-a", lambda: Built("a3"), Built).name == "a3"  # built anew after its reset
    reset("test-a")
    reset("test-b")
    assert Built.closed == ["a", "a3", "b"]


def test_every_function_resets_its_own_state_only() -> None:
    import sgrule.apply.handler as apply
    import sgrule.normalise.handler as normalise
    import sgrule.notify.handler as notify
    import sgrule.webhook.handler as webhook

    for module in (apply, normalise, notify, webhook):
        module.reset()  # whatever an earlier test left
    Built.closed.clear()
    for module in (apply, normalise, notify, webhook):
        shared(module._NAME, lambda m=module: Built(m._NAME), Built)  # type: ignore[misc]
    apply.reset()
    webhook.reset()
    assert Built.closed == [apply._NAME, webhook._NAME]
    notify.reset()
    normalise.reset()
    assert sorted(Built.closed) == sorted(m._NAME for m in (apply, normalise, notify, webhook))
