"""Ticket payloads to rule-change events: sgrule blocks, per-system mappings, ids, times, keys."""
from __future__ import annotations

import json

import pytest
from webhookkit import SECRETS, block, jira_issue

from sgrule.contract.event import parse_event
from sgrule.webhook.blocks import find_blocks
from sgrule.webhook.config import Sender
from sgrule.webhook.tickets import BodyError, change_id_for, extract, loads
from sgrule.webhook.times import rfc3339

DATA = {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-bp1payments01", "SecurityGroupRuleId": "sgr-bp1https01",
        "DestCidrIp": "10.21.0.0/16"}
DATA2 = {**DATA, "SecurityGroupRuleId": "sgr-bp1dns0001", "DestCidrIp": "100.100.2.136"}


def ANYONE(origin: str, author: dict) -> bool:  # a judge that authorizes every place
    return True


def sender(name: str = "jira", scheme: str = "jira", **extra) -> Sender:
    secret = SECRETS["jira"][0] if scheme != "standard" else SECRETS["std"][0]
    return Sender(name=name, scheme=scheme, secrets=[secret], **extra)


# ------------------------------------------------------------------------------------------- blocks

def test_fenced_blocks_in_order_with_other_code_ignored() -> None:
    text = ("intro\n```python\nprint(1)\n```\n```sgrule\n{\"a\": 1}\n```\nmiddle\r\n~~~~ SGRULE \r\n[2]\r\n~~~~\r\n"
            "```json\n{}\n```")
    assert find_blocks(text) == ['{"a": 1}\n', "[2]\r\n"]


def test_fence_closes_only_with_its_own_character_and_length() -> None:
    text = "````sgrule\n{\"x\": \"```\"}\n```\nstill inside\n````\nafter"
    assert find_blocks(text) == ['{"x": "```"}\n```\nstill inside\n']


def test_unclosed_fence_runs_to_the_end() -> None:
    assert find_blocks("```sgrule\n{}\n") == ["{}\n"]


def test_jira_wiki_code_blocks() -> None:
    text = "h2. Change\n{code:sgrule}{\"a\": 1}{code}\n{code:java}x{code}{code:language=sgrule|title=b}[]{code}"
    assert find_blocks(text) == ['{"a": 1}', "[]"]


def test_atlassian_document_code_blocks() -> None:
    doc = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "please"}]},
        {"type": "codeBlock", "attrs": {"language": "sgrule"}, "content": [{"type": "text", "text": "{\"a\":"},
                                                                          {"type": "text", "text": " 1}"}]},
        {"type": "codeBlock", "attrs": {"language": "json"}, "content": [{"type": "text", "text": "{}"}]},
        {"type": "panel", "content": [{"type": "codeBlock", "attrs": {"language": "SGRULE"},
                                       "content": [{"type": "text", "text": "[]"}]}]}]}
    assert find_blocks(doc) == ['{"a": 1}', "[]"]


@pytest.mark.parametrize("value", [None, 3, ["```sgrule\n{}\n```"], "no blocks here", "```sgrules\n{}\n```"])
def test_no_blocks(value: object) -> None:
    assert find_blocks(value) == []


def test_many_openers_and_no_closer() -> None:
    """20,000 unclosed fences and 10,000 unclosed wiki blocks: each scan opens once and runs to the end (a
    backtracking scan would rescan the rest for every opener: ~10^8 steps). The wiki blocks are inside the
    first fence, so only the fence is a block."""
    hostile = "```sgrule\n" * 20000 + "{code:sgrule}" * 10000
    blocks = find_blocks(hostile)
    assert len(blocks) == 1 and blocks[0].count("```sgrule") == 19999
    assert find_blocks("{code:sgrule}" * 10000)[0].count("{code:sgrule}") == 9999


# ------------------------------------------------------------------------------------------- tickets

def test_jira_description_block_becomes_a_valid_change() -> None:
    found = extract(jira_issue("SEC-1042", description=block(DATA)), sender(), ANYONE)
    [event] = found.events
    assert not found.native and found.ticket == "SEC-1042"
    assert event["source"] == "ticketing/jira" and event["correlationid"] == "SEC-1042"
    assert event["time"] == "2026-11-27T09:15:00.000000Z"  # Jira's +0000 offset, as RFC 3339
    assert event["data"] == DATA
    assert event["id"] == change_id_for("jira", "SEC-1042", DATA) and event["id"].startswith("SEC-1042/")
    parsed = parse_event(event)
    assert parsed.correlationid == "SEC-1042"


def test_latest_comment_blocks_win_over_the_description() -> None:
    found = extract(jira_issue(description=block(DATA), comment=block(DATA2)), sender(), ANYONE)
    assert [e["data"] for e in found.events] == [DATA2]
    assert found.where == ["latest comment"]
    found = extract(jira_issue(description=block(DATA), comment="thanks, no block"), sender(), ANYONE)
    assert [e["data"] for e in found.events] == [DATA]


def test_array_block_and_several_blocks_are_several_changes_in_order() -> None:
    text = block(DATA, DATA2) + "\nand\n" + block({**DATA, "Priority": 5})
    found = extract(jira_issue(description=text), sender(), ANYONE)
    assert [e["data"] for e in found.events] == [DATA, DATA2, {**DATA, "Priority": 5}]
    assert len({e["id"] for e in found.events}) == 3


def test_change_id_is_deterministic_and_ignores_formatting() -> None:
    a = extract(jira_issue(description=block(DATA)), sender(), ANYONE)
    compact = "```sgrule\n" + json.dumps(dict(reversed(list(DATA.items()))), separators=(",", ":")) + "\n```"
    b = extract(jira_issue(description=compact, updated="2026-12-01T00:00:00.000+0000"), sender(), ANYONE)
    assert a.events[0]["id"] == b.events[0]["id"]
    # ... but another sender, ticket or content is another change
    assert extract(jira_issue(description=block(DATA)), sender(name="jira2"), ANYONE).events[0]["id"] != a.events[0]["id"]
    assert extract(jira_issue("SEC-9", description=block(DATA)), sender(), ANYONE).events[0]["id"] != a.events[0]["id"]
    assert extract(jira_issue(description=block(DATA2)), sender(), ANYONE).events[0]["id"] != a.events[0]["id"]


def test_the_same_item_twice_is_one_change() -> None:
    found = extract(jira_issue(description=block(DATA) + block(DATA)), sender(), ANYONE)
    assert len(found.events) == 1


def test_no_block_means_no_changes_and_a_note() -> None:
    found = extract(jira_issue(description="just words"), sender(), ANYONE)
    assert found.events == [] and "no sgrule block" in found.note


def test_block_that_is_not_json_names_the_block() -> None:
    with pytest.raises(BodyError) as info:
        extract(jira_issue(description="```sgrule\n{\"RegionId\": \n```"), sender(), ANYONE)
    [err] = info.value.errors
    assert err["code"] == "InvalidEvent.Malformed" and err["field"] == "sgrule[0]"
    assert "block 1 (in the description)" in err["message"]


@pytest.mark.parametrize("key", [None, "", " SEC-1", "SEC 1 ", "x" * 129, "SEC-\u00e9", True, {"k": 1}])
def test_bad_ticket_key(key: object) -> None:
    doc = jira_issue(description=block(DATA))
    doc["issue"]["key"] = key
    with pytest.raises(BodyError) as info:
        extract(doc, sender(), ANYONE)
    assert info.value.errors[0]["field"] == "correlationid"


def test_missing_update_time_falls_back_to_the_webhook_timestamp_then_fails() -> None:
    doc = jira_issue(description=block(DATA))
    del doc["issue"]["fields"]["updated"]
    doc["timestamp"] = 1795771800000  # ms: 2026-11-27T09:30:00Z (1795782601 s is 12:30:01Z)
    assert extract(doc, sender(), ANYONE).events[0]["time"] == "2026-11-27T09:30:00.000000Z"
    del doc["timestamp"]
    with pytest.raises(BodyError) as info:
        extract(doc, sender(), ANYONE)
    assert info.value.errors[0]["field"] == "time"


def test_github_issue_comment() -> None:
    doc = {"action": "created", "issue": {"number": 42, "body": block(DATA), "updated_at": "2026-11-27T10:00:00Z"},
           "comment": {"body": block(DATA2)}, "repository": {"full_name": "acme/infra"}}
    [event] = extract(doc, sender("gh", "github"), ANYONE).events
    assert event["correlationid"] == "acme/infra#42" and event["data"] == DATA2
    assert event["time"] == "2026-11-27T10:00:00.000000Z"


def test_pagerduty_incident_note() -> None:
    doc = {"event": {"id": "01C", "event_type": "incident.annotated", "resource_type": "incident",
                     "occurred_at": "2026-11-27T10:00:00.169Z",
                     "data": {"incident": {"id": "PGR0VU2", "type": "incident_reference"}, "id": "P2LA89X",
                              "content": block(DATA), "type": "incident_note"}}}
    [event] = extract(doc, sender("pd", "pagerduty"), ANYONE).events
    assert event["correlationid"] == "PGR0VU2" and event["time"] == "2026-11-27T10:00:00.169000Z"


def test_zendesk_ticket_comment_event() -> None:
    doc = {"type": "zen:event-type:ticket.comment_added", "id": "e1", "time": "2026-11-27T10:00:00Z",
           "detail": {"id": "35436", "description": "see comment", "updated_at": "2026-11-27T10:00:00.123456789Z"},
           "event": {"comment": {"body": block(DATA), "id": "7"}}}
    [event] = extract(doc, sender("zd", "zendesk"), ANYONE).events
    assert event["correlationid"] == "35436" and event["time"] == "2026-11-27T10:00:00.123456Z"


def test_a_senders_mapping_overrides_field_by_field() -> None:
    s = sender("svc", "token", mapping={"key": "record.number", "updated": "record.sys_updated_on",
                                        "description": "record.description"})
    doc = {"record": {"number": "CHG0030001", "sys_updated_on": "2026-11-27 10:00:00 +0800",
                      "description": block(DATA)}}
    [event] = extract(doc, s, ANYONE).events
    assert event["correlationid"] == "CHG0030001" and event["time"] == "2026-11-27T02:00:00.000000Z"
    jira_override = sender(mapping={"key": "issue.fields.customfield_1"})
    doc = jira_issue(description=block(DATA))
    doc["issue"]["fields"]["customfield_1"] = "CAB-7"
    assert extract(doc, jira_override, ANYONE).events[0]["correlationid"] == "CAB-7"


def test_native_bodies_pass_through_and_a_sender_without_mapping_takes_only_them() -> None:
    event = {"specversion": "1.0", "id": "x"}
    assert extract(event, sender("s", "standard"), ANYONE).events == [event]
    assert extract([event, event], sender("s", "standard"), ANYONE).native
    with pytest.raises(BodyError, match="no ticket mapping"):
        extract({"issue": {}}, sender("s", "standard"), ANYONE)
    with pytest.raises(BodyError, match="no rule-change event"):
        extract([], sender(), ANYONE)
    with pytest.raises(BodyError):
        extract("text", sender(), ANYONE)


# ------------------------------------------------------------------------------------------- times, JSON

@pytest.mark.parametrize("value,expected", [
    ("2026-11-27T09:15:00.000+0000", "2026-11-27T09:15:00.000000Z"),
    ("2026-11-27T17:15:00+08:00", "2026-11-27T09:15:00.000000Z"),
    ("2025-09-03 12:56:17.000000000 +0000", "2025-09-03T12:56:17.000000Z"),
    ("2019-05-25T01:23:45.465719851Z", "2019-05-25T01:23:45.465719Z"),
    (1795782601000, "2026-11-27T12:30:01.000000Z"),
    (1795782601, "2026-11-27T12:30:01.000000Z"),
    ("2026-11-27T09:15:00", None), ("2026-02-30T00:00:00Z", None), ("0001-01-01T00:00:00+01:00", None),
    (float("nan"), None), (True, None), ("", None), ("x" * 100, None)])
def test_times(value: object, expected: str | None) -> None:
    assert rfc3339(value) == expected


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "1e999", '"\\ud800"', "[" * 100000, "1" * 5000, "{", "\xff"])
def test_strict_json(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text.encode("latin-1") if text == "\xff" else text)


# ------------------------------------------------------------------------------------------- who may ask

def _judged(doc: dict, s: Sender, allow: tuple[str, ...] = ()) -> tuple[list[tuple[str, dict]], object]:
    """Every (place, author) the judge was asked about, and extract's result (or the NotAuthorized)."""
    from sgrule.webhook.tickets import NotAuthorized

    asked: list[tuple[str, dict]] = []

    def judge(origin: str, author: dict) -> bool:
        asked.append((origin, author))
        return origin in allow

    try:
        return asked, extract(doc, s, judge)
    except NotAuthorized as exc:
        return asked, exc


def test_each_system_names_the_author_the_readme_documents() -> None:
    jira = jira_issue(description=block(DATA), comment=block(DATA2))
    jira["user"] = {"accountId": "5b10-editor", "displayName": "Ed"}
    jira["comment"]["author"] = {"accountId": "5b10-commenter", "displayName": "Cy"}
    asked, _ = _judged(jira, sender())
    assert asked == [("comment", {"id": "5b10-commenter", "name": "Cy", "roles": []}),
                     ("description", {"id": "5b10-editor", "name": "Ed", "roles": []})]
    gh = {"issue": {"number": 7, "body": block(DATA), "updated_at": "2026-11-27T09:00:00Z",
                    "user": {"id": 11, "login": "owner"}, "author_association": "OWNER"},
          "comment": {"body": block(DATA2), "user": {"id": 12, "login": "drive-by"}, "author_association": "NONE"},
          "repository": {"full_name": "acme/infra"}}
    asked, _ = _judged(gh, sender("gh", "github"))
    assert asked == [("comment", {"id": "12", "name": "drive-by", "roles": ["NONE"]}),
                     ("description", {"id": "11", "name": "owner", "roles": ["OWNER"]})]
    pd = {"event": {"occurred_at": "2026-11-27T09:00:00Z", "agent": {"id": "PLH1HKV", "summary": "Ana",
                                                                     "type": "user_reference"},
                    "data": {"incident": {"id": "PGR0VU2"}, "content": block(DATA)}}}
    asked, _ = _judged(pd, sender("pd", "pagerduty"))
    assert asked == [("comment", {"id": "PLH1HKV", "name": "Ana", "roles": ["user_reference"]})]
    zd = {"detail": {"id": "35436", "updated_at": "2026-11-27T09:00:00Z", "description": "none", "requester_id": 9},
          "event": {"comment": {"body": block(DATA), "author": {"id": 1508129, "is_staff": True, "name": "Ana"}}}}
    asked, _ = _judged(zd, sender("zd", "zendesk"))
    assert asked == [("comment", {"id": "1508129", "name": "Ana", "roles": ["staff"]})]


def test_a_refused_comment_is_never_read_and_the_description_still_counts() -> None:
    doc = jira_issue(description=block(DATA), comment="```sgrule\n{broken\n```")
    asked, found = _judged(doc, sender(), allow=("description",))
    assert [o for o, _ in asked] == ["comment", "description"]
    assert [e["data"] for e in found.events] == [DATA] and found.refused == ["comment"]


def test_nothing_authorized_names_every_refused_place() -> None:
    from sgrule.webhook.tickets import NotAuthorized

    _, result = _judged(jira_issue(description=block(DATA), comment=block(DATA2)), sender())
    assert isinstance(result, NotAuthorized) and result.refused == ["comment", "description"]
    _, result = _judged([parse_event_raw()], sender())
    assert isinstance(result, NotAuthorized) and result.refused == ["native"]


def parse_event_raw() -> dict:
    return {"specversion": "1.0", "id": "n-1", "source": "ticketing/jira", "type": "sgrule.egress.modify",
            "time": "2026-11-27T09:00:00Z", "data": DATA}
