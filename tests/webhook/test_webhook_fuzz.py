"""hypothesis over bodies and headers: the webhook never answers 500 and never shows a traceback.

Half the requests carry a valid signature over whatever body was drawn, so the fuzzing reaches the parser,
the ticket mapping, the block scanner, the validation and the queue (localcloud's MNS), not only the
signature check.
"""
from __future__ import annotations

import json
from typing import Any

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhookkit import SENDERS, Answer, fc_context, http_event, jira_issue, sign

DOCUMENTED = {202, 400, 401, 404, 405, 413, 415, 503}

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
field_values = st.sampled_from(["cn-hangzhou", "sg-bp1payments01", "sgr-bp1https01", "443/443", "-1/-1", "tcp",
                                "10.0.0.0/8", "2001:db8::/32", "accept", "intranet", 5, "x" * 600, "\ud800",
                                "\x00"]) | json_values
data = st.dictionaries(st.sampled_from(["RegionId", "SecurityGroupId", "SecurityGroupRuleId", "PortRange",
                                        "IpProtocol", "DestCidrIp", "Policy", "Priority", "Description", "Bogus"]),
                       field_values, max_size=6)


def native(sender: str) -> st.SearchStrategy[Any]:
    envelope = st.fixed_dictionaries({
        "specversion": st.sampled_from(["1.0", "0.3", 1]),
        "id": st.text(min_size=0, max_size=20),
        "source": st.sampled_from([f"ticketing/{sender}", "ticketing/other", ""]),
        "type": st.sampled_from(["sgrule.egress.modify", "other"]),
        "time": st.sampled_from(["2026-11-27T10:00:00Z", "yesterday", "2026-11-27T10:00:00"]),
        "data": data | json_values,
    }, optional={"correlationid": json_values, "zz": json_values})
    return envelope | st.lists(envelope, max_size=3)


def ticket(draw_block: Any) -> st.SearchStrategy[Any]:
    text = st.builds(lambda pre, b, post: f"{pre}\n```sgrule\n{b}\n```\n{post}",
                     st.text(max_size=20), draw_block, st.text(max_size=20))
    return st.builds(lambda key, desc, comment, updated: jira_issue(key, description=desc, comment=comment,
                                                                    updated=updated),
                     st.sampled_from(["SEC-1", "", "x" * 200]) | st.text(max_size=10),
                     text | st.text(max_size=30), st.none() | text,
                     st.sampled_from(["2026-11-27T09:15:00.000+0000", "bad"]))


blocks = st.builds(json.dumps, data | st.lists(data, max_size=3) | json_values) | st.text(max_size=30)
bodies = st.one_of(
    st.builds(lambda doc: json.dumps(doc).encode(), json_values),
    st.builds(lambda doc: json.dumps(doc).encode(), ticket(blocks)),
    st.builds(lambda doc: json.dumps(doc).encode(), native("jira")),
    st.binary(max_size=200),
    st.sampled_from([b"NaN", b"[1e999]", b'"\\ud800"', b"[" * 5000, b"\xff\xfe", b"1" * 5000]),
)
header_names = st.sampled_from(["content-type", "webhook-id", "webhook-timestamp", "webhook-signature",
                                "x-hub-signature", "x-hub-signature-256", "x-pagerduty-signature",
                                "x-zendesk-webhook-signature", "x-zendesk-webhook-signature-timestamp",
                                "authorization", "x-atlassian-webhook-identifier", "x-webhook-id"]) | st.text(max_size=8)
extra_headers = st.dictionaries(header_names, st.text(max_size=40), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(sender=st.sampled_from(SENDERS), body=bodies, signed=st.booleans(), extra=extra_headers,
       method=st.sampled_from(["POST", "POST", "POST", "GET"]), path=st.sampled_from(["", "/hooks/", "/x/"]),
       b64=st.booleans())
def test_never_a_500_nor_a_traceback(queued: Any, webhook: Any, sender: str, body: bytes, signed: bool, extra: dict[str, str],
                                     method: str, path: str, b64: bool) -> None:
    headers = sign(sender, body) if signed else {"Content-Type": "application/json"}
    if not signed:
        headers.update(extra)
    elif extra and not b64:
        headers.update({k: v for k, v in extra.items() if k.lower() not in ("content-type",)})
    answer = Answer(webhook.handler(http_event(f"{path}{sender}" if path else f"/{sender}", body, headers,
                                               method=method, b64=b64), fc_context()))
    assert answer.status in DOCUMENTED, answer
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    assert answer.headers["Content-Type"] == "application/json"
    hypothesis.event(f"status {answer.status}")  # pytest --hypothesis-show-statistics: how far the examples got
    if answer.status >= 400:
        assert answer.json["errors"] and all(set(e) == {"index", "code", "message", "field"}
                                             for e in answer.json["errors"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=st.binary(max_size=300) | st.builds(lambda d: json.dumps(d).encode(), json_values)
       | st.builds(lambda d: json.dumps({"requestContext": {"http": {"method": "POST", "path": "/jira"}}, **d}).encode(),
                   st.dictionaries(st.sampled_from(["body", "isBase64Encoded", "headers", "rawPath"]), json_values)))
def test_any_event_gets_a_json_answer(webhook: Any, event: bytes) -> None:
    answer = Answer(webhook.handler(event, fc_context()))
    assert answer.status in DOCUMENTED, answer
    assert "Traceback" not in answer.text

