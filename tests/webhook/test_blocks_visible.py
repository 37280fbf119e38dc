"""Only what a reader sees is a change: a block hidden in a comment, a quote, another code block,
{noformat} or a collapsed section never becomes one, wherever it stands (a property over generated
tickets), while a visible block beside it still does."""
from __future__ import annotations

import json
from typing import Any, Callable

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sgrule.webhook.blocks import find_blocks

SPELLINGS: dict[str, Callable[[str], str]] = {
    "backticks": lambda body: f"```sgrule\n{body}\n```",
    "tildes": lambda body: f"~~~ sgrule\n{body}\n~~~",
    "wiki": lambda body: "{code:sgrule}" + body + "{code}",
    "wiki-language": lambda body: "{code:language=sgrule|title=change}\n" + body + "\n{code}",
}
HIDINGS: dict[str, Callable[[str], str]] = {
    "html comment": lambda b: f"<!--\n{b}\n-->",
    "inline html comment": lambda b: f"see <!-- {b} --> above",
    "text fence": lambda b: f"````text\n{b}\n````",
    "tilde fence": lambda b: f"~~~~\n{b}\n~~~~",
    "noformat": lambda b: "{noformat}\n" + b + "\n{noformat}",
    "wiki quote": lambda b: "{quote}\n" + b + "\n{quote}",
    "java code": lambda b: "{code:java}\n" + b + "\n{code}",
    "markdown quote": lambda b: "\n".join("> " + line for line in b.split("\n")),
    "details": lambda b: f"<details>\n<summary>old request</summary>\n\n{b}\n\n</details>",
}
ADF_HIDINGS = ("expand", "nestedExpand", "blockquote")
prose = st.text(alphabet="abcdefgh ,.:-\n", max_size=60)


def item(tag: str, n: int) -> str:
    return json.dumps({tag: n, "RegionId": "cn-hangzhou", "DestCidrIp": "0.0.0.0/0"})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SPELLINGS)), st.sampled_from(sorted(HIDINGS)), st.sampled_from(sorted(SPELLINGS)),
       prose, prose, prose, st.booleans(), st.integers(0, 10 ** 6))
def test_a_hidden_block_never_becomes_a_change(hidden_spelling: str, hiding: str, visible_spelling: str,
                                               before: str, between: str, after: str, visible_first: bool,
                                               n: int) -> None:
    # Wiki code blocks do not nest: {code:sgrule} inside {code:java} closes it early (a reader sees that too).
    assume(not (hiding == "java code" and hidden_spelling.startswith("wiki")))
    hidden = HIDINGS[hiding](SPELLINGS[hidden_spelling](item("hidden", n)))
    visible = SPELLINGS[visible_spelling](item("visible", n))
    parts = [visible, hidden] if visible_first else [hidden, visible]
    text = f"{before}\n\n{parts[0]}\n\n{between}\n\n{parts[1]}\n\n{after}"
    found = find_blocks(text)
    assert not any('"hidden"' in b for b in found), (hiding, text)
    assert [json.loads(b)["visible"] for b in found] == [n], (hiding, text)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ADF_HIDINGS), st.integers(0, 3), st.integers(0, 10 ** 6))
def test_a_block_in_a_collapsed_or_quoted_adf_node_never_becomes_a_change(hiding: str, depth: int, n: int) -> None:
    def code(tag: str) -> dict[str, Any]:
        return {"type": "codeBlock", "attrs": {"language": "sgrule"}, "content": [{"type": "text", "text": item(tag, n)}]}

    node: dict[str, Any] = {"type": hiding, "attrs": {"title": "details"}, "content": [code("hidden")]}
    for _ in range(depth):  # however deep the hiding node sits
        node = {"type": "panel", "content": [node]}
    doc = {"type": "doc", "version": 1, "content": [node, code("visible")]}
    assert [json.loads(b)["visible"] for b in find_blocks(doc)] == [n]
