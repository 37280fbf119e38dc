"""`sgrule local invoke`: the real CLI in a subprocess, the real apply function, the sample events."""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "apply"
SGRULE = Path(sys.executable).with_name("sgrule")



def documented_outcomes() -> list[tuple[str, str, str | None]]:
    """The outcomes events/README.md promises for events/apply/mns-batch.json, read from its table
    (| # | `change id` ... | `status` | why, with the code of a rejection |), in input order."""
    text = (ROOT / "events" / "README.md").read_text()
    table = text[text.index("## `apply/mns-batch.json`"):]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            change_id = re.findall(r"`([^`]+)`", cells[1])[0]
            status = cells[2].strip("`")
            code = re.findall(r"`([A-Za-z]+\.[A-Za-z.]+)`", cells[3]) if status == "rejected" else []
            rows.append((change_id, status, code[0] if code else None))
    return rows


EXPECTED = documented_outcomes()
SYNC = EVENTS / "sync-invoke.json"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without anything that would point the function elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGRULE_", "ALIBABA_CLOUD_", "FC_"))}
    env.update(extra)
    return env


def invoke(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
           stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(SGRULE)] if SGRULE.exists() else [sys.executable, "-m", "sgrule.cli"]
    return subprocess.run([*cmd, "local", "invoke", *args], cwd=cwd, env=env or clean_env(), capture_output=True,
                          text=True, timeout=120, input=stdin.decode() if stdin is not None else None)


def outcome_rows(outcomes: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(o["data"]["changeId"], o["data"]["status"], (o["data"]["error"] or {}).get("code")) for o in outcomes]


def batch_change_ids() -> list[str]:
    """The rule-change ids inside the MNS wrappers (JSON text or base64 of it)."""
    ids = []
    for wrapper in json.loads((EVENTS / "mns-batch.json").read_text()):
        body = wrapper["data"]["messageBody"]
        try:
            ids.append(json.loads(body)["id"])
        except json.JSONDecodeError:
            ids.append(json.loads(base64.b64decode(body))["id"])
    return ids


def test_sample_batch_on_the_embedded_localcloud() -> None:
    proc = invoke("apply_egress_rule", "--event", str(EVENTS / "mns-batch.json"),
                  "--state", str(EVENTS / "state.json"))
    assert proc.returncode == 0, proc.stderr
    outcomes = json.loads(proc.stdout)  # stdout is only the result
    assert isinstance(outcomes, list)
    assert [o["data"]["changeId"] for o in outcomes] == batch_change_ids()  # one per change, in order
    assert len(EXPECTED) == 9 and outcome_rows(outcomes) == EXPECTED
    assert sum(1 for w in json.loads((EVENTS / "mns-batch.json").read_text())
               if not w["data"]["messageBody"].lstrip().startswith("{")) >= 1  # the sample keeps a base64 body
    by_match = outcomes[7]["data"]
    assert by_match["securityGroupRuleId"] == "sgr-bp1https6v1"
    assert by_match["after"]["Description"].startswith("HTTPS to payments (IPv6)")
    # What the embedded emulator saw, on stderr: one Describe per group, one Modify per applied change.
    assert "SGRULE_ALLOWED_REGIONS and SGRULE_ALLOWED_SECURITY_GROUPS unset" in proc.stderr
    summary = proc.stderr[proc.stderr.index("localcloud saw"):]
    assert "DescribeSecurityGroupAttribute" in summary and "x2" in summary
    assert "ModifySecurityGroupEgressRule" in summary and "x4" in summary
    assert "events published: 9" in summary


def test_same_sample_twice_gives_the_same_outcomes() -> None:
    """A fresh SQLite store per run: rerunning a sample is not a redelivery (the call is made again)."""
    args = ("apply_egress_rule", "--event", str(SYNC), "--state", str(EVENTS / "state.json"), "--compact")
    first, second = invoke(*args), invoke(*args)
    assert first.returncode == second.returncode == 0
    assert len(first.stdout.strip().splitlines()) == 1  # --compact: one line
    assert outcome_rows(json.loads(first.stdout)) == outcome_rows(json.loads(second.stdout)) == [
        ("wf-8120", "applied", None)]
    for run in (first, second):  # a replayed outcome would make no call
        assert re.search(r"ModifySecurityGroupEgressRule\s+ok\s+x1", run.stderr), run.stderr


def test_sync_invoke_sample_from_another_directory(tmp_path: Path) -> None:
    """FUNCTION resolves in the repository next to localcloud when the current directory has no functions/."""
    proc = invoke("apply_egress_rule", "--event", str(EVENTS / "sync-invoke.json"),
                  "--state", str(EVENTS / "state.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [outcome] = json.loads(proc.stdout)
    assert outcome["data"]["status"] == "applied"
    assert outcome["data"]["after"]["DestCidrIp"] == "203.0.113.10/32"
    assert outcome["correlationid"] == "onb-4471"


def test_event_from_stdin_and_policy_from_env() -> None:
    proc = invoke("apply_egress_rule", "--event", "-", "--state", str(EVENTS / "state.json"),
                  "--env", "SGRULE_ALLOWED_SECURITY_GROUPS=sg-bp1payments01", stdin=SYNC.read_bytes())
    assert proc.returncode == 0, proc.stderr
    # The sample's group (sg-bp1batch0001) is outside the allow-list given with --env.
    assert outcome_rows(json.loads(proc.stdout)) == [("wf-8120", "rejected", "Forbidden.SecurityGroupNotAllowed")]
    assert "SGRULE_ALLOWED_REGIONS unset" in proc.stderr  # only the one left unset is opened


def test_handler_that_raises_exits_1_with_fc_error_shape(tmp_path: Path) -> None:
    event = tmp_path / "foo.json"
    event.write_text('{"foo": 1}')
    proc = invoke("apply_egress_rule", "--event", str(event))
    assert proc.returncode == 1
    error = json.loads(proc.stdout)
    assert set(error) == {"errorMessage", "errorType"}
    assert error["errorType"] == "InvocationError"
    assert "not an EventBridge event" in error["errorMessage"]
    assert "Traceback" in proc.stderr  # the traceback goes to the logs, not stdout


def test_help() -> None:
    proc = invoke("--help")
    assert proc.returncode == 0
    for text in ("--event", "--state", "--timeout", "--env", "SGRULE_ECS_ENDPOINT", "exit status"):
        assert text in proc.stdout
    assert proc.stdout.startswith("usage: sgrule local invoke")
    listed = subprocess.run([sys.executable, "-m", "localcloud", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert listed.returncode == 0 and "invoke" in listed.stdout


@pytest.mark.parametrize("args, message", [
    (["no_such_function", "--event", "events/apply/sync-invoke.json"], "no function 'no_such_function'"),
    (["apply_egress_rule", "--event", "events/apply/missing.json"], "cannot read --event"),
    (["apply_egress_rule", "--event", "events/apply/sync-invoke.json", "--state", "events/README.md"],
     "cannot read --state"),
    (["apply_egress_rule", "--event", "events/apply/sync-invoke.json", "--env", "NOEQUALS"], "KEY=VALUE"),
])
def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    proc = invoke(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_uses_the_running_localcloud_when_the_endpoint_is_set(localcloud: Any, tmp_path: Path) -> None:
    localcloud.load_state(json.loads((EVENTS / "state.json").read_text()))
    env = clean_env(
        SGRULE_ECS_ENDPOINT=localcloud.endpoint, SGRULE_EVENTBRIDGE_ENDPOINT=localcloud.endpoint,
        ALIBABA_CLOUD_ACCESS_KEY_ID=localcloud.access_key_id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=localcloud.access_key_secret,
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
        SGRULE_OUTCOME_BUS="default", SGRULE_ALLOWED_REGIONS="cn-*", SGRULE_ALLOWED_SECURITY_GROUPS="sg-bp1*",
        SGRULE_IDEMPOTENCY_URL=f"sqlite:///{tmp_path}/idem.sqlite3")
    localcloud.clear_calls()  # calls before this run are not counted in its summary
    proc = invoke("apply_egress_rule", "--event", str(SYNC), env=env)
    assert proc.returncode == 0, proc.stderr
    [outcome] = json.loads(proc.stdout)
    assert outcome_rows([outcome]) == [("wf-8120", "applied", None)]
    assert f"SGRULE_ECS_ENDPOINT={localcloud.endpoint} is set: using it" in proc.stderr
    assert "embedded emulator at" not in proc.stderr
    # The calls went to this emulator (its call log), and the summary counts only this run's calls.
    [modify] = localcloud.calls("ModifySecurityGroupEgressRule")
    assert modify["requestId"] == outcome["data"]["requestId"]
    assert len(localcloud.calls("DescribeSecurityGroupAttribute")) == 1
    assert [e["eventId"] for e in localcloud.events(bus="default")] == [outcome["id"]]
    assert "localcloud saw 3 API call(s)" in proc.stderr


def test_generic_function_gets_fc_environment_context_and_timeout(tmp_path: Path) -> None:
    fn = tmp_path / "functions" / "probe"
    fn.mkdir(parents=True)
    (fn / "index.py").write_text(
        "import os, time\n"
        "STATE = {}\n"
        "def initialize(context):\n"
        "    STATE['init'] = context.request_id\n"
        "def handler(event, context):\n"
        "    print('a log line on stdout')\n"
        "    if event == b'sleep':\n"
        "        time.sleep(30)\n"
        "    return {'event': event.decode(), 'bytes': isinstance(event, bytes), 'init': STATE.get('init'),\n"
        "            'request_id': context.request_id, 'name': context.function.name,\n"
        "            'memory': context.function.memory, 'timeout': context.function.timeout,\n"
        "            'region': context.region, 'account_id': context.account_id,\n"
        "            'env': {k: os.environ.get(k) for k in ('FC_FUNCTION_NAME', 'FC_REGION', 'FC_ACCOUNT_ID',\n"
        "                    'FC_FUNCTION_MEMORY_SIZE', 'FC_FUNCTION_HANDLER', 'SGRULE_ECS_ENDPOINT',\n"
        "                    'SGRULE_OUTCOME_BUS', 'SGRULE_IDEMPOTENCY_URL', 'MY_VAR')}}\n")
    (tmp_path / "event.txt").write_text("hello")
    proc = invoke("probe", "--event", "event.txt", "--memory", "256", "--timeout", "9", "--region", "cn-shanghai",
                  "--request-id", "req-1", "--env", "MY_VAR=x=y", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert "a log line on stdout" in proc.stderr  # the function's prints never mix into the result
    assert got["event"] == "hello" and got["bytes"] is True and got["init"] == "req-1"
    assert (got["name"], got["memory"], got["timeout"], got["region"]) == ("probe", 256, 9, "cn-shanghai")
    assert got["account_id"] == "1234567890123456"
    env = got["env"]
    assert env["FC_FUNCTION_NAME"] == "probe" and env["FC_REGION"] == "cn-shanghai"
    assert env["FC_FUNCTION_MEMORY_SIZE"] == "256" and env["FC_FUNCTION_HANDLER"] == "index.handler"
    assert env["SGRULE_ECS_ENDPOINT"].startswith("http://127.0.0.1:") and env["SGRULE_OUTCOME_BUS"] == "default"
    assert env["SGRULE_IDEMPOTENCY_URL"].startswith("sqlite:///") and env["MY_VAR"] == "x=y"

    (tmp_path / "sleep.txt").write_text("sleep")
    proc = invoke("probe", "--event", "sleep.txt", "--timeout", "0.5", cwd=tmp_path)
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"errorMessage": "Function timed out after 0.5 seconds",
                                       "errorType": "FunctionTimedOut"}


def test_in_process_run_restores_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    from localcloud.cli import main

    before = dict(os.environ)
    code = main(["invoke", "apply_egress_rule", "--event", str(EVENTS / "sync-invoke.json"),
                 "--state", str(EVENTS / "state.json"), "--compact"])
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)[0]["data"]["status"] == "applied"
    assert dict(os.environ) == before


def test_sample_state_is_the_emulators_own_dump() -> None:
    from localcloud.server import LocalCloud

    state = json.loads((EVENTS / "state.json").read_text())
    assert LocalCloud(state=state).dump_state() == state
    groups = state["ecs"]["accounts"]["1234567890123456"]["cn-hangzhou"]["security_groups"]
    rules = [r for g in groups.values() for r in g["rules"]]
    assert len(groups) == 3 and len(rules) >= 10
    assert any(r["Ipv6DestCidrIp"] for r in rules)
    assert any(r["DestGroupId"] for r in rules)
    assert any(r["DestPrefixListId"] for r in rules)


def test_function_enqueues_on_the_embedded_mns(tmp_path: Path) -> None:
    # A door-like function: puts the event it gets on the change queue with sgrule's ChangeQueue.
    fn = tmp_path / "functions" / "door"
    fn.mkdir(parents=True)
    (fn / "index.py").write_text(
        "import json\n"
        "from sgrule.clients.mns import ChangeQueue\n"
        "from sgrule.runtime.config import CommonSettings\n"
        "def handler(event, context):\n"
        "    return ChangeQueue(CommonSettings()).send(json.loads(event))\n")
    (tmp_path / "event.json").write_text(json.dumps([{"id": "c-1"}, {"id": "c-2"}]))
    proc = invoke("door", "--event", "event.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 2  # two MNS message ids
    assert "BatchSendMessage                     ok" in proc.stderr
    assert "messages on queue 'sgrule-changes': 2" in proc.stderr


def test_an_external_endpoint_without_credentials_says_what_to_set(tmp_path: Path) -> None:
    # No key, no profile (an empty home): the run stops before the function, instead of the SDK's chain
    # probing the ECS metadata service and the retries that follow.
    env = clean_env(SGRULE_ECS_ENDPOINT="http://127.0.0.1:9", HOME=str(tmp_path))
    proc = invoke("apply_egress_rule", "--event", str(EVENTS / "sync-invoke.json"), env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "no credentials were found" in proc.stderr
    for hint in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "--env", "unset SGRULE_ECS_ENDPOINT"):
        assert hint in proc.stderr
    assert "local invoke: apply_egress_rule, request" not in proc.stderr  # the handler never ran


def _env_probe(tmp_path: Path) -> Path:
    fn = tmp_path / "functions" / "envprobe"
    fn.mkdir(parents=True)
    (fn / "index.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    return {k: os.environ.get(k) for k in ('ALIBABA_CLOUD_ECS_METADATA_DISABLED',)}\n")
    (tmp_path / "event.json").write_text("{}")
    return fn


def test_with_a_profile_the_metadata_service_is_not_probed(tmp_path: Path) -> None:
    _env_probe(tmp_path)
    home = tmp_path / "home"
    (home / ".aliyun").mkdir(parents=True)
    (home / ".aliyun" / "config.json").write_text(json.dumps({"current": "default", "profiles": []}))
    env = clean_env(SGRULE_ECS_ENDPOINT="http://127.0.0.1:9", HOME=str(home))
    proc = invoke("envprobe", "--event", "event.json", "--format", "json", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    # Asking for the instance's RAM role by name is asking for the metadata service: left alone.
    env["ALIBABA_CLOUD_ECS_METADATA"] = "sgrule-role"
    proc = invoke("envprobe", "--event", "event.json", env=env, cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": None}


def test_credential_sources_follow_the_sdk_chain(tmp_path: Path) -> None:
    from localcloud.invoke import credential_sources

    assert credential_sources({}, tmp_path) == []
    assert credential_sources({"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"}, tmp_path) == []  # a secret is needed too
    assert credential_sources({"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"},
                              tmp_path) == ["ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET"]
    oidc = {"ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/r", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "p",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/token"}
    assert credential_sources(oidc, tmp_path) == ["OIDC role (ALIBABA_CLOUD_ROLE_ARN)"]
    (tmp_path / ".alibabacloud").mkdir()
    (tmp_path / ".alibabacloud" / "credentials.ini").write_text("[default]\n")
    assert credential_sources({}, tmp_path) == ["credentials file (~/.alibabacloud/credentials.ini)"]
    (tmp_path / ".aliyun").mkdir()
    (tmp_path / ".aliyun" / "config.json").write_text("{}")
    assert credential_sources({"ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true"}, tmp_path) == [
        "credentials file (~/.alibabacloud/credentials.ini)"]
    assert len(credential_sources({}, tmp_path)) == 2


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(value: str) -> None:
    proc = invoke("apply_egress_rule", "--event", str(EVENTS / "sync-invoke.json"), "--timeout", value)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--timeout" in proc.stderr and ("greater than 0" in proc.stderr or "not a number" in proc.stderr)
    assert proc.stderr.startswith("usage: sgrule local invoke")  # stopped by the argument check
    assert "embedded emulator" not in proc.stderr  # nothing started


def test_on_a_terminal_the_outcomes_are_a_status_table(tmp_path: Path) -> None:
    import pty

    cmd = [str(SGRULE)] if SGRULE.exists() else [sys.executable, "-m", "sgrule.cli"]
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([*cmd, "local", "invoke", "apply_egress_rule", "--event", str(EVENTS / "mns-batch.json"),
                             "--state", str(EVENTS / "state.json")], stdout=secondary, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=clean_env(NO_COLOR="1"))
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(timeout=120) == 0
    rows = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    assert rows[0].split() == ["STATUS", "CHANGE", "RULE", "ERROR"]
    table = [r.split()[:2] for r in rows[1:10]]
    assert [(change, status) for status, change in table] == [(c, s) for c, s, _ in EXPECTED]
    assert rows[-1] == "9 change(s): 4 applied, 3 rejected, 1 superseded, 1 unchanged"
    assert "InvalidParam.PortRange" in rows[3]
