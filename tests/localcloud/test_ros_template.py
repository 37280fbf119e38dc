"""ROS template loading: parameters, intrinsic functions, and clear errors for what cannot be resolved."""
from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.fc.models import functions_from
from localcloud.template import TemplateError, load_template, parse_params, parse_template

ROOT = Path(__file__).resolve().parents[2]
HEAD = "ROSTemplateFormatVersion: '2015-09-01'\n"


def test_references_resolve_from_params_defaults_pseudo_params_and_resources() -> None:
    text = HEAD + """
Parameters:
  Name: {Type: String, Default: app}
  Size: {Type: Number, Default: 3, MinValue: 1, MaxValue: 10}
Resources:
  Queue:
    Type: ALIYUN::MNS::Queue
    Properties: {QueueName: !Sub '${Name}-q'}
  Bus:
    Type: ALIYUN::EventBridge::EventBus
    Properties: {EventBusName: {Fn::Join: ['-', [{Ref: Name}, bus]]}}
  Fn:
    Type: ALIYUN::FC3::Function
    Properties:
      FunctionName: {Ref: Name}
      Env:
        QUEUE: {Ref: Queue}
        ARN: !GetAtt Queue.ARN
        SUB_ATTR: '${Bus.EventBusName}'
        SUB: {Fn::Sub: ['${Name}:${ALIYUN::Region}:${ALIYUN::AccountId}:${X}:${!Literal}', {X: {Ref: Size}}]}
        PICK: {Fn::Select: [1, {Fn::Split: [',', 'a,b,c']}]}
        DROPPED: {Ref: ALIYUN::NoValue}
"""
    t = parse_template(text, {"Size": "7"}, region="cn-shanghai", account_id="42")
    env = t.resources["Fn"].properties["Env"]
    assert t.parameters == {"Name": "app", "Size": 7}
    assert env["QUEUE"] == "app-q"
    assert env["ARN"] == "acs:mns:cn-shanghai:42:/queues/app-q"
    assert env["SUB_ATTR"] == "${Bus.EventBusName}"  # plain text is not Fn::Sub
    assert env["SUB"] == "app:cn-shanghai:42:7:${Literal}"
    assert env["PICK"] == "b"
    assert "DROPPED" not in env
    assert t.resources["Bus"].name == "app-bus"


@pytest.mark.parametrize("body, message", [
    ("QUEUE: {Ref: Nowhere}", "Ref to 'Nowhere'"),
    ("ARN: !GetAtt [Missing, Arn]", "unknown resource 'Missing'"),
    ("ARN: !GetAtt [Other, NoSuchAttribute]", "no attribute 'NoSuchAttribute'"),
    ("X: {Fn::Base64Encode: abc}", "unsupported intrinsic function Fn::Base64Encode"),
    ("X: !Sub '${Nope}'", "Ref to 'Nope'"),
])
def test_a_broken_reference_names_where_and_what(body: str, message: str) -> None:
    text = HEAD + f"""
Resources:
  Other: {{Type: ALIYUN::MNS::Queue, Properties: {{QueueName: q}}}}
  Fn:
    Type: ALIYUN::FC3::Function
    Properties:
      Env:
        {body}
"""
    with pytest.raises(TemplateError) as info:
        parse_template(text)
    assert message in str(info.value)
    assert "Resources.Fn.Properties.Env" in str(info.value) or "unknown resource" in str(info.value)


def test_cycles_and_parameter_errors_are_refused() -> None:
    cycle = HEAD + """
Resources:
  A: {Type: ALIYUN::MNS::Queue, Properties: {QueueName: !GetAtt [B, QueueName]}}
  B: {Type: ALIYUN::MNS::Queue, Properties: {QueueName: !GetAtt [A, QueueName]}}
"""
    with pytest.raises(TemplateError, match="circular reference A -> B -> A"):
        parse_template(cycle)
    params = HEAD + """
Parameters:
  Needed: {Type: String}
  Small: {Type: Number, Default: 1, MaxValue: 5}
Resources: {}
"""
    with pytest.raises(TemplateError, match="--param Needed=..."):
        parse_template(params)
    with pytest.raises(TemplateError, match="outside"):
        parse_template(params, {"Needed": "x", "Small": "9"})
    with pytest.raises(TemplateError, match="undeclared parameter"):
        parse_template(params, {"Needed": "x", "Typo": "1"})
    with pytest.raises(TemplateError, match="NAME=VALUE"):
        parse_params(["novalue"])


def test_production_template_functions_map_to_their_code_folders() -> None:
    t = load_template(ROOT / "template.yml", {"CodeBucket": "b", "AllowedSecurityGroups": "sg-*",
                                             "RedisUrl": "sqlite:///tmp/x.sqlite3"})
    functions = functions_from(t)
    apply = functions[t.parameters["FunctionName"]]
    assert apply.code_dir == ROOT / "functions" / "apply_egress_rule"
    assert apply.handler == "index.handler" and apply.initializer == "index.initialize"
    assert apply.environment["SGRULE_OUTCOME_BUS"] == t.parameters["OutcomeBusName"]
    assert apply.environment["SGRULE_IDEMPOTENCY_URL"] == "sqlite:///tmp/x.sqlite3"
    assert apply.async_config.max_retries == 8
    assert apply.reserved_concurrency == t.parameters["ApplyMaxInstances"] == 8  # its ConcurrencyConfig
    assert apply.environment["SGRULE_ECS_RATE"] == t.parameters["EcsRate"]
    assert apply.async_config.on_failure.endswith(":/queues/sgrule-changes-dlq/messages")


def test_a_missing_code_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "template.yml").write_text(HEAD + """
Resources:
  Fn:
    Type: ALIYUN::FC3::Function
    Properties: {FunctionName: f, Handler: index.handler, Code: {OssBucketName: b, OssObjectName: dist/missing.zip}}
""")
    with pytest.raises(TemplateError, match=r"code folder .*functions/missing is missing"):
        functions_from(load_template(tmp_path / "template.yml"))
