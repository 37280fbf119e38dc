"""`sgrule package`: the lock is the tested environment, each zip holds its function, the library, the locked
dependencies its code imports (nothing of localcloud or the tests) and their bytecode for one interpreter with
unchecked hashes, two builds give the same bytes, and each zip's handler runs its sample event against
localcloud from a clean interpreter that sees nothing but the unpacked zip and writes nothing into it.

The zips here are built for *this* interpreter and platform (``--host``: wheels and bytecode for the
interpreter running the tests) so they can run here; ``make package`` builds the same zips for the functions'
runtime (CPython 3.12, manylinux2014 x86_64, compiled by python3.12), from the same lock, by the same code. The dependencies are installed once per lock
(cached in the temp dir by the lock's hash); the zips are rebuilt from the current sources every session.
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sgrule.cli.lock import LOCK_FILE, read_lock, render, resolve, runtime_requirements
from sgrule.cli.package import Built, Target, build

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("zip_driver.py")
FUNCTIONS = ("apply_egress_rule", "normalise_descriptions", "outcome_bus", "ticket_notify", "ticket_webhook")
TAG = sys.implementation.cache_tag
CACHE = Path(tempfile.gettempdir()) / f"sgrule-package-cache-{os.getuid()}"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Built, Path]]:
    out = tmp_path_factory.mktemp("package")
    built = build(out / "zips", target=Target(host=True), cache=CACHE)
    unpacked = {}
    for b in built:
        dest = out / "unpacked" / b.folder
        with zipfile.ZipFile(b.path) as zf:
            zf.extractall(dest)
        unpacked[b.folder] = (b, dest)
    return unpacked


def test_the_lock_is_exactly_the_environment_the_tests_run_in() -> None:
    lock = ROOT / LOCK_FILE
    assert lock.read_text(encoding="utf-8") == render(resolve(runtime_requirements())), \
        "requirements.lock is stale: run `sgrule lock --write`"
    pins = dict(read_lock(lock))
    for name, version in pins.items():
        assert md.version(name) == version, name
    # The runtime dependencies and what they pull in; never the dev tools.
    assert {"pydantic", "pydantic-core", "alibabacloud-ecs20140526", "aliyun-mns-sdk", "redis"} <= set(pins)
    assert not {"pytest", "hypothesis", "alibabacloud-fc20230330", "croniter", "jsonschema"} & set(pins)


def test_each_zip_holds_its_function_the_library_and_what_its_code_imports(
        zips: dict[str, tuple[Built, Path]]) -> None:
    assert sorted(zips) == list(FUNCTIONS)
    pins = dict(read_lock(ROOT / LOCK_FILE))
    for folder, (built, _) in zips.items():
        assert built.path.name == f"{folder}.zip"  # the name template.yml's OssObjectName uses
        names = zipfile.ZipFile(built.path).namelist()
        assert "index.py" in names and "sgrule/__init__.py" in names
        assert (ROOT / "functions" / folder / "index.py").read_bytes() == \
            zipfile.ZipFile(built.path).read("index.py")
        assert "sgrule/normalise/default_policy.yml" in names  # package data travels with the library
        tops = {n.split("/")[0] for n in names}
        assert not tops & {"localcloud", "tests", "bench", "functions", "bin"}
        assert not any(n.startswith(("sgrule/cli/", "sgrule/client.py")) for n in names)  # tooling stays out
        assert "sgrule/clients/ecs.py" in names
        assert "guardrails/example.yml" in names and not any(n.endswith(".cases.yml") for n in names)
        dist_infos = {d.lower() for d in tops if d.endswith(".dist-info")}
        carried = {name for name, version in pins.items()
                   if f"{name.replace('-', '_')}-{version}.dist-info".lower() in dist_infos}
        assert carried == set(built.distributions) and len(dist_infos) == len(carried), folder
        assert built.size < 100 * 1024 * 1024  # FC: 100 MB through the API, 500 MB from OSS
    # Only what each function's code imports: the SDKs go where they are called.
    assert {"alibabacloud-ecs20140526", "pydantic", "redis"} <= set(zips["apply_egress_rule"][0].distributions)
    assert "aliyun-mns-sdk" not in zips["apply_egress_rule"][0].distributions
    assert not {"alibabacloud-ecs20140526", "aliyun-mns-sdk"} & set(zips["ticket_notify"][0].distributions)
    assert "alibabacloud-ecs20140526" not in zips["ticket_webhook"][0].distributions
    # The CEL library (authorize, guardrails) is loaded without an import statement: it travels all the same.
    # Its own requirements serve only its command-line tool, which no function loads: they stay out.
    for folder in ("apply_egress_rule", "ticket_webhook"):
        assert "common-expression-language" in zips[folder][0].distributions, folder
        assert not {"typer", "rich", "prompt-toolkit", "pygments"} & set(zips[folder][0].distributions), folder
    assert zips["ticket_notify"][0].size < zips["apply_egress_rule"][0].size / 2


def test_every_module_carries_bytecode_for_one_interpreter_with_unchecked_hashes(
        zips: dict[str, tuple[Built, Path]]) -> None:
    for folder, (built, _) in zips.items():
        with zipfile.ZipFile(built.path) as zf:
            names = set(zf.namelist())
            caches = [n for n in names if n.endswith(".pyc")]
            assert all(f".{TAG}.pyc" in n and "/__pycache__/" in f"/{n}" for n in caches), folder
            sources = [n for n in names if n.endswith(".py")]
            uncompiled = [n for n in sources if f"{n.rpartition('/')[0]}/__pycache__/".lstrip("/") +
                          f"{n.rpartition('/')[2][:-3]}.{TAG}.pyc" not in names]
            assert uncompiled == [], (folder, uncompiled[:5])
            for name in caches[:50]:
                header = zf.read(name)[:16]
                assert header[:4] == importlib.util.MAGIC_NUMBER
                assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source never checked


def test_the_bytecode_is_what_runs(zips: dict[str, tuple[Built, Path]], tmp_path: Path) -> None:
    # With unchecked hashes the interpreter takes the bytecode as it is: a source changed after the build is
    # not even read. (So a run from the zip compiles nothing.)
    code = tmp_path / "code"
    shutil.copytree(zips["ticket_notify"][1], code)
    (code / "sgrule" / "notify" / "__init__.py").write_text("raise SystemExit('source read')\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-B", "-I", "-S", "-c",
                           "import sys; sys.path.insert(0, '.'); import sgrule.notify; print('ok')"],
                          capture_output=True, text=True, cwd=code, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, "ok"), proc.stderr


def test_the_same_sources_and_lock_give_the_same_bytes(zips: dict[str, tuple[Built, Path]],
                                                        tmp_path: Path) -> None:
    again = build(tmp_path, target=Target(host=True), cache=CACHE, functions=["apply_egress_rule", "ticket_notify"])
    for b in again:
        assert b.path.read_bytes() == zips[b.folder][0].path.read_bytes(), b.folder


def run_zip(code: Path, event: Path, name: str, env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """The handler in a fresh interpreter: isolated (-I: no user site, no PYTHON* variables, no script dir)
    and without site-packages (-S), so only the standard library and the unpacked zip are importable."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
             "TMPDIR": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", **env}
    before = sorted(code.rglob("*"))
    proc = subprocess.run([sys.executable, "-B", "-I", "-S", str(DRIVER), str(code), str(event), name],
                          capture_output=True, text=True, env=clean, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(code.rglob("*")) == before  # FC's code folder is read-only: the run must not need to write
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["outside"] == [] and report["localcloud"] == []
    assert report["sgrule"].startswith(str(code))
    return report["result"]


def cloud_env(localcloud: Any, tmp_path: Path) -> dict[str, str]:
    return {"SGRULE_ECS_ENDPOINT": localcloud.endpoint, "SGRULE_EVENTBRIDGE_ENDPOINT": localcloud.endpoint,
            "SGRULE_MNS_ENDPOINT": localcloud.endpoint, "ALIBABA_CLOUD_ACCESS_KEY_ID": localcloud.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localcloud.access_key_secret,
            "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{tmp_path}/idempotency.sqlite3",
            "SGRULE_ALLOWED_REGIONS": "cn-hangzhou", "SGRULE_ALLOWED_SECURITY_GROUPS": "sg-bp1*"}


def test_apply_runs_its_sync_sample_from_the_zip(zips: dict[str, tuple[Built, Path]], localcloud: Any,
                                                 ecs_client: Any, tmp_path: Path) -> None:
    from alibabacloud_ecs20140526 import models

    localcloud.load_state(json.loads((ROOT / "events" / "apply" / "state.json").read_text()))
    localcloud.create_bus("sgrule-outcomes")
    # With the example guardrails policy from the zip, by its path relative to the code root: a file that
    # cannot be loaded would reject the change (HTTPS to a public address is what the policy allows).
    code = zips["apply_egress_rule"][1]
    env = cloud_env(localcloud, tmp_path) | {"SGRULE_OUTCOME_BUS": "sgrule-outcomes", "FC_FUNC_CODE_PATH": str(code),
                                             "SGRULE_GUARDRAILS_FILE": "guardrails/example.yml"}
    [outcome] = run_zip(code, ROOT / "events" / "apply" / "sync-invoke.json", "sgrule-apply-egress-rule", env,
                        tmp_path)
    assert outcome["data"]["status"] == "applied" and outcome["data"]["changeId"] == "wf-8120"
    body = ecs_client.describe_security_group_attribute(models.DescribeSecurityGroupAttributeRequest(
        region_id="cn-hangzhou", security_group_id="sg-bp1batch0001", direction="egress")).body
    [rule] = [p for p in body.permissions.permission if p.security_group_rule_id == "sgr-bp1batch443"]
    assert rule.dest_cidr_ip == "203.0.113.10/32"
    assert [e["event"]["Id"] for e in localcloud.events(bus="sgrule-outcomes")] == [outcome["id"]]


def test_webhook_runs_its_jira_sample_from_the_zip(zips: dict[str, tuple[Built, Path]], localcloud: Any,
                                                   tmp_path: Path) -> None:
    localcloud.create_queue("sgrule-changes")
    env = cloud_env(localcloud, tmp_path) | {
        "SGRULE_CHANGE_QUEUE": "sgrule-changes",
        "SGRULE_WEBHOOK_SENDERS": (ROOT / "events" / "http" / "senders.json").read_text()}
    answer = run_zip(zips["ticket_webhook"][1], ROOT / "events" / "http" / "jira-issue.json",
                     "sgrule-ticket-webhook", env, tmp_path)
    assert answer["statusCode"] == 202, answer
    accepted = json.loads(answer["body"])["accepted"]
    messages = localcloud.queue("sgrule-changes")["messages"]
    assert len(accepted) == 1 and len(messages) == 1


def test_notify_runs_its_outcome_sample_from_the_zip(zips: dict[str, tuple[Built, Path]], tmp_path: Path) -> None:
    from localcloud.jira import LocalJira

    user, token = "sgrule-bot@example.com", "jira-api-token-0123456789"
    with LocalJira(users={user: token}, issues=["SEC-1042"]) as jira:
        targets = [{"sender": "jira", "kind": "jira", "url": jira.url, "user": user, "token": token}]
        env = {"SGRULE_NOTIFY_TARGETS": json.dumps(targets),
               "SGRULE_IDEMPOTENCY_URL": f"sqlite:///{tmp_path}/idempotency.sqlite3"}
        summary = run_zip(zips["ticket_notify"][1], ROOT / "events" / "notify" / "outcome.json",
                          "sgrule-ticket-notify", env, tmp_path)
        assert summary["posted"] == 1, summary
        [comment] = jira.comments("SEC-1042")
    assert "applied" in json.dumps(comment["body"])


def test_normaliser_runs_its_dry_run_sample_from_the_zip(zips: dict[str, tuple[Built, Path]], localcloud: Any,
                                                         tmp_path: Path) -> None:
    localcloud.load_state(json.loads((ROOT / "events" / "normalise" / "state.json").read_text()))
    localcloud.create_bus("sgrule-outcomes")
    localcloud.create_queue("sgrule-changes")
    env = cloud_env(localcloud, tmp_path) | {"SGRULE_OUTCOME_BUS": "sgrule-outcomes",
                                             "SGRULE_CHANGE_QUEUE": "sgrule-changes"}
    report = run_zip(zips["normalise_descriptions"][1], ROOT / "events" / "normalise" / "dry-run.json",
                     "sgrule-normalise-descriptions", env, tmp_path)
    assert report["dryRun"] is True, report
    assert localcloud.queue("sgrule-changes")["messages"] == []  # a dry run enqueues nothing
    assert report["complete"] is True and report["counts"]["toChange"] == 7 == len(report["changes"]), report


def test_outcome_bus_runs_from_the_zip_and_a_second_run_changes_nothing(zips: dict[str, tuple[Built, Path]],
                                                                         localcloud: Any, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"eventBusName": "made-from-zip", "description": "outcomes"}), encoding="utf-8")
    env = cloud_env(localcloud, tmp_path)
    first = run_zip(zips["outcome_bus"][1], event, "sgrule-outcome-bus", env, tmp_path)
    again = run_zip(zips["outcome_bus"][1], event, "sgrule-outcome-bus", env, tmp_path)
    assert (first, again) == ({"eventBusName": "made-from-zip", "created": True},
                              {"eventBusName": "made-from-zip", "created": False})


def test_what_a_function_imports_decides_what_it_carries(tmp_path: Path) -> None:
    from sgrule.cli.package import PackageError, needed_distributions

    (tmp_path / "shared").mkdir()
    fn = tmp_path / "functions" / "probe"
    fn.mkdir(parents=True)
    (fn / "index.py").write_text("import json\n\ndef handler(event, context):\n    import jmespath\n", encoding="utf-8")
    assert needed_distributions(tmp_path, "probe", Target(host=True)) == ["jmespath"]  # lazy imports count too
    (fn / "index.py").write_text("import pydantic_settings\n", encoding="utf-8")
    needed = needed_distributions(tmp_path, "probe", Target(host=True))
    assert {"pydantic-settings", "pydantic", "pydantic-core", "python-dotenv"} <= set(needed)  # and requirements
    (fn / "index.py").write_text("import no_such_package_anywhere\n", encoding="utf-8")
    with pytest.raises(PackageError, match="no_such_package_anywhere, which no installed package provides"):
        needed_distributions(tmp_path, "probe", Target(host=True))
