"""Cold start of every function as Function Compute runs what ships, against a baseline measured in the same run
(a script, not a test).

What ships is a code zip (``sgrule package``: the function, the library, the packages its code imports, their
bytecode for the runtime's interpreter). Function Compute unpacks it into a read-only folder and starts a
fresh interpreter for each new instance, which imports the function, runs its ``initialize`` and answers one
invocation. This bench builds the zips for the runtime (python3.12, manylinux x86_64, as ``make package``),
unpacks each, and starts exactly that (``bench/_coldstart_child.py``): ``python3.12 -B -I -S``, only the
unpacked folder on the path, nothing written into it (checked after every run), the function's sample event
from ``events/`` against localcloud (and a local Jira), with the clients and the idempotency store the
template deploys (Redis), its outputs checked:

====================== =========================================== =============================================
function               sample event                                what the one invocation must have done
====================== =========================================== =============================================
apply_egress_rule      events/apply/mns-batch.json (9 changes)     4 applied, 1 unchanged, 3 rejected, 1
                                                                   superseded; 9 outcomes published on the bus
ticket_webhook         events/http/jira-issue.json (signed)        202; the change is on the queue
ticket_notify          events/notify/outcome-applied.json          one comment posted on the local Jira issue
normalise_descriptions events/timer/nightly.json, with dryRun      the 7 description changes enqueued, its report
                       false (the template's nightly payload)      published on the bus
====================== =========================================== =============================================

Beside the apply function, ``apply_egress_rule+guardrails``: the same apply zip, event and checks, with the
example guardrails policy configured as a deployment would (``SGRULE_GUARDRAILS_FILE=guardrails/example.yml``,
relative to the function's code root, ``FC_FUNC_CODE_PATH``, which FC sets to the unpacked folder; the
packager puts ``guardrails/*.yml`` in every zip). Its ``initialize`` reads and compiles the policy, each change
that would send a Modify is judged by its four guardrails (none of the sample's denies one; a policy that did
not load would reject them all, failing the check). It runs whenever the apply function does, from its zip
only (no venv row). Target: its ratio at most the apply function's own ratio in the same run + 0.05, printed
beside apply's with the per-round difference of the two (each round's guarded run minus its apply run, over
that round's baseline).

Baseline: ``import pydantic, alibabacloud_ecs20140526.client`` by the same interpreter, the same way (``-B -I
-S``), from a copy of the apply function's unpacked zip with its bytecode removed -- what a function packaged
the usual way (no bytecode, read-only folder) pays for pydantic and an official Alibaba client alone. Runs are
interleaved, the order rotated every round; each function's figure is the median of its per-round ratios
(its cold invocation over that round's baseline), with the spread. Per function also its cold CPU seconds
scaled by the template's ``Cpu`` for it (what the instance, given that share of a vCPU, takes for that CPU
work). Targets: apply <= 0.35, apply with the example guardrails policy <= apply's ratio + 0.05, webhook
<= 0.25, the webhook's scaled CPU <= 2.5 s (half PagerDuty's 5 s).

The same functions run from the source tree in this venv (a warm ``__pycache__``, a writable folder) are
printed as information (``--no-venv`` skips them), and so is the apply function run from its zip's folder
with the bytecode removed (the zip as it shipped before: what the bytecode is worth). Exits 0 whatever the figures (it is a report); non-zero
only when something failed to run, a function did not do its work, or a run wrote into its code folder.

    .venv/bin/python bench/bench_coldstart.py [--rounds N] [--functions a,b] [--store auto|redis|sqlite]
    .venv/bin/python bench/bench_coldstart.py --importtime FUNCTION   # where one cold start's imports go
    .venv/bin/python bench/bench_coldstart.py --importtime apply_egress_rule+guardrails   # ... with the policy
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from _localcloud import BASELINE_IMPORT, BenchError, LocalCloudProcess  # a sibling of this script

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "_coldstart_child.py"
EVENTS = ROOT / "events"
PY = sys.executable
# Targets per function: (ratio to the baseline, CPU seconds scaled by the template's Cpu); None: no target.
TARGETS = {"apply_egress_rule": (0.35, None), "ticket_webhook": (0.25, 2.5)}
REDIS_URL = "redis://127.0.0.1:6379/0"
JIRA_USER, JIRA_TOKEN = "sgrule-bot@example.com", "bench-jira-api-token-0123456789"
FUNCTIONS = ("apply_egress_rule", "ticket_webhook", "ticket_notify", "normalise_descriptions")
GUARDED = "apply_egress_rule+guardrails"  # the apply zip with the example guardrails policy, measured with apply
GUARDRAILS_ADDS = 0.05  # its target: at most this over the apply function's own ratio
GUARDRAILS_FILE = "guardrails/example.yml"  # relative: against the code root, as a deployment names it


def redis_reachable(url: str = REDIS_URL) -> bool:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0).ping()
        return True
    except Exception:  # noqa: BLE001 - refused, timeout, auth: no Redis to measure with
        return False


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float], unit: str = " s", fmt: str = ".3f") -> str:
    return f"{med(xs):{fmt}}{unit} [{min(xs):{fmt}}-{max(xs):{fmt}}]"


# ---------------------------------------------------------------------------------------------- the world

class World(LocalCloudProcess):
    """localcloud (ECS, EventBridge, MNS on one port) and a local Jira, started for the run."""

    def __init__(self, store: str, tmp: Path) -> None:
        self.store, self.tmp, self.n = store, tmp, 0
        super().__init__()
        from localcloud.jira import LocalJira

        self.jira = LocalJira(users={JIRA_USER: JIRA_TOKEN}, issues=["SEC-1042"]).start()
        self.namespaces: list[str] = []
        if store == "redis":
            import redis

            if not redis_reachable():
                self.stop()
                raise BenchError(f"no Redis at {REDIS_URL} (the store the template deploys): start redis-server, "
                                 "or run with --store sqlite")
            self.redis = redis.Redis.from_url(REDIS_URL)

    def store_env(self) -> dict[str, str]:
        """A store no earlier run has used: a fresh namespace on Redis, or a fresh SQLite file."""
        self.n += 1
        namespace = f"bench-coldstart-{os.getpid()}-{self.n}"
        self.namespaces.append(namespace)
        url = REDIS_URL if self.store == "redis" else f"sqlite:///{self.tmp}/store-{self.n}.sqlite3"
        return {"SGRULE_IDEMPOTENCY_URL": url, "SGRULE_IDEMPOTENCY_NAMESPACE": namespace}

    def env(self, **extra: str) -> dict[str, str]:
        """What FC gives a function: its role's keys (here localcloud's) and the template's variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SGRULE_", "ALIBABA_CLOUD_"))}
        env.update(ALIBABA_CLOUD_ACCESS_KEY_ID=self.info["accessKeyId"],
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=self.info["accessKeySecret"],
                   ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", SGRULE_REGION="cn-hangzhou")
        env.update(extra)
        return env

    def stop(self) -> None:
        self.jira.stop()
        if self.store == "redis" and hasattr(self, "redis"):
            for namespace in self.namespaces:
                keys = list(self.redis.scan_iter(match=f"{namespace}:*", count=1000))
                if keys:
                    self.redis.delete(*keys)
        super().stop()


# ---------------------------------------------------------------------------------------------- the functions

@dataclass
class Case:
    """One function's cold start: its event, its environment, the world reset before each run, the check."""

    name: str
    event: Path
    env: Callable[[], dict[str, str]]
    prepare: Callable[[], None]
    check: Callable[[Any], None]


def cases(world: World, tmp: Path) -> dict[str, Case]:
    c, ep = world.control, world.endpoint
    apply_state = json.loads((EVENTS / "apply" / "state.json").read_text())
    normalise_state = json.loads((EVENTS / "normalise" / "state.json").read_text())
    queue = "sgrule-changes"

    def fresh_queue() -> None:
        if any(q["name"] == queue for q in c.queues()):
            c.delete_queue(queue)
        c.create_queue(queue)

    # apply: the MNS trigger's batch of the nine sample changes (events/README.md says what each must end as).
    def apply_prepare() -> None:
        c.load_state(apply_state)  # the rules as the sample expects them; the bus emptied

    def apply_check(outcomes: Any) -> None:
        statuses = [o["data"]["status"] for o in outcomes]
        want = ["applied", "unchanged", "rejected", "rejected", "rejected", "applied", "superseded", "applied",
                "applied"]
        if statuses != want:
            raise BenchError(f"apply_egress_rule: statuses {statuses}, expected {want}")
        published = len(c.events(bus="default"))
        if published != len(want):
            raise BenchError(f"apply_egress_rule: {published} outcomes on the bus, expected {len(want)}")

    # webhook: a signed Jira webhook; its change must be on the queue.
    senders = (EVENTS / "http" / "senders.json").read_text()

    def webhook_check(answer: Any) -> None:
        if answer.get("statusCode") != 202:
            raise BenchError(f"ticket_webhook: answered {answer.get('statusCode')}: {answer.get('body')}")
        waiting = c.queue(queue)["counts"]["visible"]
        if waiting != 1:
            raise BenchError(f"ticket_webhook: {waiting} messages on the queue, expected 1")

    # notify: the outcome of that change, as the EventBridge rule delivers it; one comment on the ticket.
    comments_before: list[int] = []

    def notify_prepare() -> None:
        comments_before[:] = [len(world.jira.comments("SEC-1042"))]

    def notify_check(summary: Any) -> None:
        added = len(world.jira.comments("SEC-1042")) - comments_before[0]
        if summary.get("posted") != 1 or added != 1:
            raise BenchError(f"ticket_notify: summary {summary}, {added} comment(s) added, expected 1 posted")

    targets = json.dumps([{"sender": "jira", "kind": "jira", "url": world.jira.url, "user": JIRA_USER,
                           "token": JIRA_TOKEN}])

    # normalise: the nightly timer, a real run (the template's payload): 7 changes enqueued, report published.
    timer = json.loads((EVENTS / "timer" / "nightly.json").read_text())
    timer["payload"] = json.dumps({**json.loads(timer["payload"]), "dryRun": False})
    nightly = tmp / "nightly-real.json"
    nightly.write_text(json.dumps(timer))

    def normalise_prepare() -> None:
        c.load_state({**normalise_state, "eventbridge": apply_state["eventbridge"]})
        fresh_queue()

    def normalise_check(report: Any) -> None:
        counts = report.get("counts", {})
        waiting = c.queue(queue)["counts"]["visible"]
        if not report.get("complete") or counts.get("enqueued") != 7 or waiting != 7:
            raise BenchError(f"normalise_descriptions: counts {counts}, {waiting} on the queue, expected 7 enqueued")
        if len(c.events(bus="default")) != 1:
            raise BenchError("normalise_descriptions: its report was not published on the bus")

    def guarded_check(outcomes: Any) -> None:
        try:
            apply_check(outcomes)
        except BenchError as exc:  # e.g. all rejected: the policy did not load (fail closed)
            raise BenchError(f"{GUARDED} ({GUARDRAILS_FILE}): {exc}") from None
        judged = [o["data"].get("error") or {} for o in outcomes]
        if any(str(e.get("code", "")).startswith("Forbidden.Guardrail") for e in judged):
            raise BenchError(f"{GUARDED}: a guardrail rejected a sample change: {judged}")

    common = {"SGRULE_ALLOWED_REGIONS": "cn-hangzhou", "SGRULE_ALLOWED_SECURITY_GROUPS": "sg-bp1*"}

    def apply_env(**extra: str) -> Callable[[], dict[str, str]]:
        return lambda: world.env(**common, **world.store_env(), SGRULE_ECS_ENDPOINT=ep,
                                 SGRULE_EVENTBRIDGE_ENDPOINT=ep, SGRULE_OUTCOME_BUS="default", **extra)

    return {
        "apply_egress_rule": Case("apply_egress_rule", EVENTS / "apply" / "mns-batch.json", apply_env(),
                                  apply_prepare, apply_check),
        GUARDED: Case("apply_egress_rule", EVENTS / "apply" / "mns-batch.json",
                      apply_env(SGRULE_GUARDRAILS_FILE=GUARDRAILS_FILE), apply_prepare, guarded_check),
        "ticket_webhook": Case(
            "ticket_webhook", EVENTS / "http" / "jira-issue.json",
            lambda: world.env(**common, **world.store_env(), SGRULE_MNS_ENDPOINT=ep, SGRULE_CHANGE_QUEUE=queue,
                              SGRULE_WEBHOOK_SENDERS=senders, SGRULE_WEBHOOK_BUDGET_MS="4000"),
            fresh_queue, webhook_check),
        "ticket_notify": Case(
            "ticket_notify", EVENTS / "notify" / "outcome-applied.json",
            lambda: world.env(**world.store_env(), SGRULE_NOTIFY_TARGETS=targets),
            notify_prepare, notify_check),
        "normalise_descriptions": Case(
            "normalise_descriptions", nightly,
            lambda: world.env(**common, **world.store_env(), SGRULE_ECS_ENDPOINT=ep, SGRULE_EVENTBRIDGE_ENDPOINT=ep,
                              SGRULE_OUTCOME_BUS="default", SGRULE_MNS_ENDPOINT=ep, SGRULE_CHANGE_QUEUE=queue,
                              SGRULE_NORMALISE_REGIONS="cn-hangzhou"),
            normalise_prepare, normalise_check),
    }


# ---------------------------------------------------------------------------------------------- what ships

class Shipped:
    """The zips ``sgrule package`` builds for the runtime, unpacked: one folder per function, and the baseline's
    folder (the apply zip without its bytecode)."""

    def __init__(self, tmp: Path, names: list[str]) -> None:
        sys.path.insert(0, str(ROOT / "shared"))
        from sgrule.cli.package import PackageError, Target, build, interpreter

        try:
            self.python = interpreter(Target())
            print(f"building the zips for the runtime with {self.python} ...", file=sys.stderr, flush=True)
            built = build(tmp / "zips", target=Target(), cache=ROOT / "build" / ".cache", python=self.python,
                          functions=sorted({*names, "apply_egress_rule"}))
        except PackageError as exc:
            raise BenchError(f"packaging failed: {exc}") from None
        self.sizes = {b.folder: (b.size, b.files) for b in built}
        self.code: dict[str, Path] = {}
        for b in built:
            dest = tmp / "code" / b.folder
            with zipfile.ZipFile(b.path) as zf:
                zf.extractall(dest)
            self.code[b.folder] = dest
        self.plain = tmp / "plain"
        shutil.copytree(self.code["apply_egress_rule"], self.plain)
        for cache in sorted(self.plain.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache)
        # Read-only, as FC mounts the code (root ignores the mode bits: every run is also checked to write nothing).
        for folder in [*self.code.values(), self.plain]:
            for path in folder.rglob("*"):
                path.chmod(path.stat().st_mode & ~0o222)
        self.before = {folder: snapshot(folder) for folder in [*self.code.values(), self.plain]}

    def check_untouched(self, folder: Path, who: str) -> None:
        after = snapshot(folder)
        if after != self.before[folder]:
            changed = sorted(set(after) ^ set(self.before[folder]))[:5]
            raise BenchError(f"{who} wrote into its read-only code folder {folder}: {changed}")

    def baseline_args(self) -> list[str]:
        return [self.python, "-B", "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(self.plain)!r}); "
                f"{BASELINE_IMPORT}"]

    def restore_modes(self) -> None:
        for folder in [*self.code.values(), self.plain]:
            for path in folder.rglob("*"):
                path.chmod(path.stat().st_mode | 0o200)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def template_cpu() -> dict[str, float]:
    """Each function folder's ``Cpu`` in template.yml (its code object's name is the folder's)."""
    from sgrule.cli.sdevs import load_template

    doc = load_template(ROOT / "template.yml")
    out = {}
    for res in doc["Resources"].values():
        if res["Type"] != "ALIYUN::FC3::Function":
            continue
        obj = res["Properties"]["Code"]["OssObjectName"]
        name = doc["Parameters"][obj["Ref"]]["Default"] if isinstance(obj, dict) else obj
        out[Path(name).stem] = float(res["Properties"]["Cpu"])
    return out


# ---------------------------------------------------------------------------------------------- running

def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """A fresh process: (wall seconds, its CPU seconds, stdout). Raises BenchError when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(args[1:6])} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


NO_BYTECODE = " (no bytecode)"  # the apply zip's folder with its bytecode removed: the zip as it used to ship


def run_case(case: Case, shipped: Shipped | None = None, extra: list[str] | None = None,
             bytecode: bool = True) -> dict[str, Any]:
    """One cold invocation: from the unpacked zip as FC runs it (``shipped``), or from the source tree."""
    case.prepare()
    if shipped is not None:
        code = shipped.code[case.name] if bytecode else shipped.plain
        args = [shipped.python, "-B", "-I", "-S", str(CHILD), case.name, str(case.event), str(code)]
    else:
        args = [PY, *(extra or []), str(CHILD), case.name, str(case.event)]
    # The code root a relative SGRULE_GUARDRAILS_FILE resolves against: the unpacked zip, as FC sets it; the
    # repository for the source tree.
    wall, cpu, out = run_child(args, {**case.env(), "FC_FUNC_CODE_PATH": str(code if shipped else ROOT)})
    info = json.loads(out.strip().splitlines()[-1])
    if shipped is not None:
        shipped.check_untouched(code, case.name)
        if info["outside"]:
            raise BenchError(f"{case.name} loaded code from outside its zip: {info['outside'][:5]}")
    case.check(info["result"])
    info.update(wall=wall, cpu=cpu)
    return info


@dataclass
class Series:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # per round: this run over the round's baseline
    inner: list[dict[str, Any]] = field(default_factory=list)


def measure(world: World, chosen: dict[str, Case], shipped: Shipped, rounds: int,
            venv: bool) -> tuple[Series, dict[str, Series]]:
    base = Series()
    series: dict[str, Series] = {}
    for n in chosen:
        if n == GUARDED:
            continue
        series[n] = Series()
        if n == "apply_egress_rule" and GUARDED in chosen:  # beside apply's, from its zip only
            series[GUARDED] = Series()
        if venv:
            series[f"{n} (venv)"] = Series()
    if "apply_egress_rule" in chosen:  # what the bytecode in the zip is worth, for information
        series[f"apply_egress_rule{NO_BYTECODE}"] = Series()
    env = world.env()
    for key, case in chosen.items():  # one run each first: the page cache, and a check of the setup
        run_case(case, shipped)
        if venv and key != GUARDED:
            run_case(case)
    run_child(shipped.baseline_args(), env)
    shipped.check_untouched(shipped.plain, "the baseline")
    names = list(series)
    for r in range(rounds):
        k = r % (len(names) + 1)
        order = (["baseline", *names])[k:] + (["baseline", *names])[:k]
        runs: dict[str, dict[str, Any]] = {}
        for name in order:
            if name == "baseline":
                wall, cpu, _ = run_child(shipped.baseline_args(), env)
                shipped.check_untouched(shipped.plain, "the baseline")
                base.walls.append(wall)
                base.cpus.append(cpu)
            else:
                fn = name.removesuffix(" (venv)").removesuffix(NO_BYTECODE)
                runs[name] = run_case(chosen[fn], None if name.endswith(" (venv)") else shipped,
                                      bytecode=not name.endswith(NO_BYTECODE))
        for name, info in runs.items():
            s = series[name]
            s.walls.append(info["wall"])
            s.cpus.append(info["cpu"])
            s.ratios.append(info["wall"] / base.walls[-1])
            s.inner.append(info)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return base, series


def importtime(case: Case, top: int) -> None:
    """One cold start under ``python -X importtime``: the imports that cost most (cumulative, top level)."""
    case.prepare()
    env = {**case.env(), "FC_FUNC_CODE_PATH": str(ROOT)}  # the source tree's code root (its guardrails/)
    proc = subprocess.run([PY, "-X", "importtime", str(CHILD), case.name, str(case.event)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{case.name} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    rows = []  # (cumulative us, own us, name indented by depth)
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or line.endswith("imported package"):
            continue
        own, cum, name = line[len("import time:"):].split("|")
        rows.append((int(cum), int(own), name.rstrip()[1:]))
    total = sum(cum for cum, _, name in rows if not name.startswith(" "))
    print(f"{case.name}: {len(rows)} modules imported, {total / 1e6:.3f} s in top-level imports "
          f"(-X importtime inflates them); the {top} costliest, cumulative:")
    for cum, own, name in sorted(rows, reverse=True)[:top]:
        print(f"  {cum / 1e6:7.3f} s  (own {own / 1e6:.3f})  {name}")


def report(base: Series, series: dict[str, Series], shipped: Shipped, cpu_share: dict[str, float]) -> None:
    print(f"\nbaseline: `{BASELINE_IMPORT}` by {Path(shipped.python).name} -B -I -S from the apply zip's "
          f"folder without bytecode: wall {spread(base.walls)}, CPU {spread(base.cpus)} (n={len(base.walls)})")
    print("each function: its zip unpacked, read-only, run as FC runs it; import index, initialize, one invocation "
          "with its sample event (for information: venv rows, the source tree with a warm __pycache__; no-bytecode "
          "row, the apply zip's folder without its bytecode)")
    rows = []
    for name, s in series.items():
        fn = name.removesuffix(" (venv)").removesuffix(NO_BYTECODE)
        folder = "apply_egress_rule" if fn == GUARDED else fn  # the guarded case runs the apply zip
        split = {k: med([x[k] for x in s.inner]) for k in ("import_s", "initialize_s", "invoke_s")}
        share = cpu_share.get(folder, 1.0)
        scaled = [c / share for c in s.cpus]
        print(f"  {name:<34} wall {spread(s.walls)}; per-round ratio {spread(s.ratios, '', '.2f')}; CPU "
              f"{spread(s.cpus)}, / Cpu {share:g} = {spread(scaled)}; in-process: import {split['import_s']:.3f} s, "
              f"initialize {split['initialize_s']:.3f} s, invocation {split['invoke_s']:.3f} s; "
              f"{med([x['modules'] for x in s.inner]):.0f} modules")
        ratio_target, cpu_target = TARGETS.get(fn, (None, None)) if name == fn else (None, None)
        exact = ratio_target  # what the ratio is compared with (the printed target is rounded)
        if name == GUARDED and "apply_egress_rule" in series:
            plain = series["apply_egress_rule"]
            exact = med(plain.ratios) + GUARDRAILS_ADDS
            ratio_target = float(f"{exact:.3f}")  # three places: apart from apply's own target
            # Each round's guarded run minus its apply run, over that round's baseline (the same rounds).
            added = [(g - a) / b for g, a, b in zip(s.walls, plain.walls, base.walls)]
            added_cpu = [(g - a) / b for g, a, b in zip(s.cpus, plain.cpus, base.cpus)]
            print(f"  {'':<34} the guardrails policy adds {med(s.ratios) - med(plain.ratios):+.3f} of the baseline "
                  f"to apply's ratio {med(plain.ratios):.3f} (target <= +{GUARDRAILS_ADDS}); per-round difference "
                  f"{spread(added, '', '+.3f')}, of its CPU {spread(added_cpu, '', '+.3f')}; in-process "
                  f"initialize {split['initialize_s'] - med([x['initialize_s'] for x in plain.inner]):+.3f} s, "
                  f"invocation {split['invoke_s'] - med([x['invoke_s'] for x in plain.inner]):+.3f} s")
        verdicts = [("PASS" if med(s.ratios) <= exact else "MISS") if exact else "",
                    ("PASS" if med(scaled) <= cpu_target else "MISS") if cpu_target else ""]
        size = f"{shipped.sizes[folder][0] / 1e6:.1f} MB" if name == fn else "-"
        cpu_ratio = med(s.cpus) / med(base.cpus)
        rows.append((name, size, f"{med(s.walls):.3f} s",
                     f"{med(s.ratios):.2f} ({min(s.ratios):.2f}-{max(s.ratios):.2f})",
                     f"<= {ratio_target}" if ratio_target else "-", verdicts[0], f"{med(s.cpus):.3f} s",
                     f"{cpu_ratio:.2f}",
                     f"{share:g}", f"{med(scaled):.2f} s ({min(scaled):.2f}-{max(scaled):.2f})",
                     f"<= {cpu_target} s" if cpu_target else "-", verdicts[1]))
    widths = [34, 8, 9, 17, 8, 4, 9, 9, 4, 19, 8, 4]
    heads = ("function", "zip", "cold", "ratio (range)", "target", "", "CPU", "CPU ratio", "Cpu",
             "CPU / Cpu (range)", "target", "")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(f"(ratio: median of the per-round wall-time ratios to the baseline {med(base.walls):.3f} s; CPU ratio: "
          f"median CPU over the baseline's {med(base.cpus):.3f} s, steadier on a busy machine; CPU / Cpu: the cold "
          "run's CPU seconds over the vCPU share template.yml gives the function)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=11, help="interleaved rounds (each: baseline + every function)")
    ap.add_argument("--functions", default=",".join(FUNCTIONS), help="comma-separated (default: all four)")
    ap.add_argument("--store", choices=("auto", "redis", "sqlite"), default="auto",
                    help="idempotency store: redis (as deployed; 127.0.0.1:6379, a fresh namespace per run), sqlite, "
                         "or auto: redis when it answers, else sqlite (default)")
    ap.add_argument("--no-venv", action="store_true", help="skip the source-tree (warm venv) runs")
    ap.add_argument("--importtime", metavar="FUNCTION", help="instead: one cold start under -X importtime (venv); "
                    f"{GUARDED} for the apply function with the example guardrails policy")
    ap.add_argument("--top", type=int, default=25, help="rows of --importtime (default 25)")
    args = ap.parse_args()
    names = [n.strip() for n in (args.importtime or args.functions).split(",") if n.strip()]
    unknown = sorted(set(names) - set(FUNCTIONS) - ({GUARDED} if args.importtime else set()))
    if unknown:
        ap.error(f"unknown function(s) {unknown}; choose from {', '.join(FUNCTIONS)}"
                 + (f" (or {GUARDED})" if args.importtime else " (apply brings its guarded case)"))

    t_start = time.perf_counter()
    store = args.store if args.store != "auto" else "redis" if redis_reachable() else "sqlite"
    if store != args.store and store == "sqlite":
        print(f"no Redis at {REDIS_URL}: measuring with the SQLite store (the template deploys Redis)",
              file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    shipped = None
    world = World(store, tmp)
    try:
        chosen = {n: c for n, c in cases(world, tmp).items()
                  if n in names or (n == GUARDED and "apply_egress_rule" in names)}
        if args.importtime:
            importtime(chosen[args.importtime], args.top)
            return 0
        shipped = Shipped(tmp, names)
        print(f"cold-start bench: {Path(shipped.python).name} (zips) and python {sys.version.split()[0]} (venv), "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, store {store}, {args.rounds} rounds, "
              f"localcloud {world.endpoint}")
        base, series = measure(world, chosen, shipped, args.rounds, venv=not args.no_venv)
        report(base, series, shipped, template_cpu())
    finally:
        world.stop()
        if shipped is not None:
            shipped.restore_modes()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"(total {time.perf_counter() - t_start:.0f} s; load {os.getloadavg()[0]:.1f}; medians of "
          f"{args.rounds} interleaved rounds, [min-max])")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench_coldstart: failed to run: {exc}", file=sys.stderr)
        sys.exit(2)
