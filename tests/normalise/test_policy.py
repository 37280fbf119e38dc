"""The description policy: each step, the default policy, idempotence (property), invalid files with line and reason."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sgrule.contract.event import parse_event
from sgrule.normalise import steps
from sgrule.normalise.policy import DEFAULT_POLICY, PolicyError, load, parse

RULE = {"IpProtocol": "TCP", "PortRange": "443/443", "DestCidrIp": "10.0.0.0/8", "Policy": "accept", "Priority": 1}
TICKET = r"\b[A-Z][A-Z0-9]{1,9}-[0-9]{1,9}\b"

MARKING = f"""
version: 1
steps:
  - strip_control: {{}}
  - nfc: {{}}
  - whitespace: {{}}
  - replace:
      rules:
        - {{pattern: '(?i)\\bprod\\b', replacement: production}}
        - {{pattern: '\\s*;\\s*', replacement: '; '}}
  - default: {{template: '{{IpProtocol}} {{PortRange}} to {{destination}}'}}
  - ticket: {{pattern: '{TICKET}', missing: marker, marker: '[no-ticket]'}}
  - limit: {{max_length: 40, ellipsis: '...'}}
"""


# ------------------------------------------------------------------ the steps


def test_strip_control_drops_controls_and_keeps_word_gaps() -> None:
    assert steps.strip_control("a\tb\nc\r\nd\x07e\x00f\x7fg\x9bh") == "a b c  de" + "fgh"
    # Format characters (zero-width space, BOM, right-to-left override) go unless told otherwise.
    assert steps.strip_control("x\u200by\ufeffz\u202e!") == "xyz!"
    assert steps.strip_control("x\u200by", format_characters=False) == "x\u200by"
    assert steps.strip_control("lone \ud800 surrogate") == "lone  surrogate"
    assert steps.strip_control("naïve 中文 emoji 😀") == "naïve 中文 emoji 😀"


def test_nfc_composes() -> None:
    assert steps.nfc("cafe\u0301") == "caf\u00e9"
    assert steps.nfc("\u212b") == "\u00c5"  # ANGSTROM SIGN -> its canonical equivalent


def test_whitespace_trims_and_collapses_unicode_spaces() -> None:
    assert steps.whitespace("  a \u3000\u00a0 b\t\tc  ") == "a b c"
    assert steps.whitespace("   ") == ""


def test_replace_runs_rules_in_order() -> None:
    rules = [(re.compile(r"(?i)\bprod\b"), "production"), (re.compile(r"production (\w+)"), r"\1@production")]
    assert steps.replace("PROD db", rules) == "db@production"


def test_require_ticket_reports_or_marks_once() -> None:
    pattern = re.compile(TICKET)
    assert steps.require_ticket("egress CHG-12", pattern, "marker", "[no-ticket]", "prefix") == ("egress CHG-12", False)
    assert steps.require_ticket("egress", pattern, "report", None, "prefix") == ("egress", True)
    assert steps.require_ticket("egress", pattern, "marker", "[no-ticket]", "prefix") == ("[no-ticket] egress", True)
    assert steps.require_ticket("[no-ticket] egress", pattern, "marker", "[no-ticket]", "prefix") == \
        ("[no-ticket] egress", True)
    assert steps.require_ticket("egress", pattern, "marker", "(untracked)", "suffix") == ("egress (untracked)", True)
    assert steps.require_ticket("", pattern, "marker", "[no-ticket]", "prefix") == ("[no-ticket]", True)


def test_default_description_from_the_rule() -> None:
    t = "{IpProtocol} {PortRange} to {destination}"
    assert steps.default_description("", RULE, t) == "TCP 443/443 to 10.0.0.0/8"
    assert steps.default_description("kept", RULE, t) == "kept"
    assert steps.default_description("", {"IpProtocol": "ALL", "PortRange": "-1/-1", "DestGroupId": "sg-x"}, t) == \
        "ALL -1/-1 to sg-x"
    assert steps.default_description("", {"IpProtocol": "ICMPv6", "PortRange": "-1/-1",
                                          "Ipv6DestCidrIp": "2001:db8::/32"}, t) == "ICMPv6 -1/-1 to 2001:db8::/32"
    assert steps.default_description("", {"IpProtocol": "TCP", "PortRange": "1/2", "DestPrefixListId": "pl-a"},
                                     "{IpProtocol} from {SourceCidrIp} to {destination}") == "TCP from to pl-a"


def test_limit_cuts_at_a_word_with_an_ellipsis() -> None:
    assert steps.limit("short", 10, "…") == "short"
    assert steps.limit("exactly ten", 11, "…") == "exactly ten"
    assert steps.limit("alpha beta gamma", 12, "…") == "alpha beta…"       # "gamma" would be cut mid-word
    assert steps.limit("alpha beta gamma", 11, "…") == "alpha beta…"       # the cut falls on the space
    assert steps.limit("abcdefghijklmnop", 8, "…") == "abcdefg…"           # one long word: cut inside it
    out = steps.limit("word " * 200, 512, "…")
    assert len(out) <= 512 and out.endswith("word…")


# ------------------------------------------------------------------ the default policy


def test_the_default_policy_ships_and_loads() -> None:
    assert DEFAULT_POLICY.is_file()
    policy = load()
    assert policy.names == ["strip_control", "nfc", "whitespace", "default", "ticket", "limit"]
    assert policy.source == "default policy"


@pytest.mark.parametrize("before, after, fired", [
    ("  egress to payments  ", "egress to payments", ("whitespace",)),
    ("egress\tto\npayments\x07", "egress to payments", ("strip_control",)),
    ("egress \t to\r\npayments ", "egress to payments", ("strip_control", "whitespace")),
    ("cafe\u0301 CHG-1", "caf\u00e9 CHG-1", ("nfc",)),
    ("", "TCP 443/443 to 10.0.0.0/8", ("default",)),
    ("\u200b", "TCP 443/443 to 10.0.0.0/8", ("strip_control", "default")),
    ("already fine CHG-42", "already fine CHG-42", ()),
])
def test_default_policy_examples(before: str, after: str, fired: tuple[str, ...]) -> None:
    result = load().run(before, RULE)
    assert (result.after, result.steps) == (after, fired)
    assert result.changed == (before != after)


def test_default_policy_reports_missing_tickets_without_changing() -> None:
    result = load().run("egress to payments", RULE)
    assert result.after == "egress to payments" and not result.changed
    assert result.findings == ("ticket-missing",)
    assert load().run("egress CHG-7", RULE).findings == ()


def test_a_marking_policy() -> None:
    policy = parse(MARKING)
    assert policy.run("to prod db ;backup", RULE).after == "[no-ticket] to production db; backup"
    assert policy.run("CHG-1 prod", RULE).after == "CHG-1 production"
    assert policy.run("", RULE).after == "[no-ticket] TCP 443/443 to 10.0.0.0/8"
    long = policy.run("CHG-1 " + "word " * 20, RULE)
    assert long.after == "CHG-1 word word word word word word..." and long.steps == ("whitespace", "limit")


# ------------------------------------------------------------------ idempotence (property)

descriptions = st.one_of(
    st.text(max_size=600),
    st.text(alphabet=st.sampled_from(list("ab CHG-12 \t\n\x07\u200b\u0301e;prod PROD")), max_size=600),
    st.lists(st.sampled_from(["prod", "PROD", "CHG-9", ";", " ", "\t", "é", "e\u0301", "\x1b", "word"]),
             max_size=200).map("".join),
)
rules = st.sampled_from([RULE, {"IpProtocol": "ALL", "PortRange": "-1/-1", "DestGroupId": "sg-abc"},
                         {"IpProtocol": "UDP", "PortRange": "53/53", "Ipv6DestCidrIp": "2001:db8::/32"}])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=descriptions, rule=rules, which=st.sampled_from(["default", "marking"]))
@example(text="x" * 509 + " CHG-1", rule=RULE, which="default")
@example(text="prod " * 100 + "CHG-1", rule=RULE, which="marking")
def test_normalising_twice_changes_nothing(text: str, rule: dict, which: str) -> None:
    policy = load() if which == "default" else parse(MARKING)
    once = policy.run(text, rule)
    assert once.stable
    twice = policy.run(once.after, rule)
    assert twice.after == once.after and twice.steps == () and not twice.changed


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=600), rule=rules)
def test_default_policy_output_is_what_the_api_and_apply_accept(text: str, rule: dict) -> None:
    after = load().run(text, rule).after
    assert 1 <= len(after) <= 512
    assert after == after.strip() and "  " not in after
    assert unicodedata.is_normalized("NFC", after)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in after)
    parse_event({"specversion": "1.0", "id": "x", "source": "t", "type": "sgrule.egress.modify",
                 "time": "2026-11-27T10:00:00Z",
                 "data": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-abc", "SecurityGroupRuleId": "sgr-abc",
                          "Description": after}})


def test_a_policy_that_never_settles_is_reported_unstable() -> None:
    policy = parse("version: 1\nsteps:\n  - replace:\n      rules:\n        - {pattern: 'a', replacement: 'aa'}\n")
    result = policy.run("a", RULE)
    assert not result.stable and not result.changed and result.steps == ("replace",)


# ------------------------------------------------------------------ invalid files: line and reason


@pytest.mark.parametrize("text, line, reason", [
    ("version: 1\nsteps:\n  - whitespace: {}\n  - frobnicate: {}\n", 4, "unknown step 'frobnicate'"),
    ("version: 1\nsteps:\n  - replace:\n      rules:\n        - pattern: '(unclosed'\n          replacement: x\n",
     5, "not a valid regular expression"),
    ("version: 1\nsteps:\n  - ticket:\n      pattern: 'CHG-[0-9]+'\n      missing: marker\n", 3,
     "missing: marker needs a marker"),
    ("version: 1\nsteps:\n  - ticket:\n      pattern: 'x'\n      missing: sometimes\n", 5, "'report' or 'marker'"),
    ("version: 1\nsteps:\n  - limit:\n      max_length: 513\n", 4, "less than or equal to 512"),
    ("version: 1\nsteps:\n  - default:\n      template: '{IpProtocol} to {Destination}'\n", 4,
     "unknown placeholder {Destination}"),
    ("version: 1\nsteps:\n  - whitespace: {}\n  - whitespace: {}\n", 4, "two steps are called 'whitespace'"),
    ("version: 1\nsteps:\n  - whitespace: {}\n    nfc: {}\n", 3, "one-key mapping"),
    ("version: 1\nsteps:\n  - whitespace: {colour: blue}\n", 3, "Extra inputs are not permitted"),
    ("version: 2\nsteps: []\n", 1, "version must be 1"),
    ("version: 1\nsteps: []\n", 2, "non-empty list"),
    ("version: 1\nsteps:\n  - nfc: {}\nsteps:\n  - whitespace: {}\n", 4, "duplicate key 'steps'"),
    ("version: 1\nsteps:\n  - nfc: {\n", 4, "not valid YAML"),
    ("version: 1\nsteps:\n  - replace:\n      rules:\n        - {pattern: 'a', replacement: '\\2'}\n", 5,
     "refers to group 2"),
    ("version: 1\nrules: []\n", 2, "unknown key"),
    ("", None, "empty"),
])
def test_invalid_policies_fail_at_load_with_the_line_and_reason(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text, "policy.yml")
    err = info.value
    assert err.line == line, str(err)
    assert reason in str(err)
    assert str(err).startswith(f"policy.yml:{line}: " if line else "policy.yml: ")


def test_an_unreadable_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nsteps:\n  - limit: {ellipsis: '..........'}\n")
    with pytest.raises(PolicyError, match=r"bad\.yml:3: steps\[0\]\.limit\.ellipsis"):
        load(bad)
