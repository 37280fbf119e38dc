"""``sgrule local invoke FUNCTION --event FILE``: run one FC 3.0 Python function in-process, the way FC would.

- FUNCTION is a folder under ``functions/`` (looked up in the current directory, then in the repository that
  holds this package), or a path to a folder with ``index.py``. ``index.py`` is loaded by path.
- The function gets FC's environment (``FC_REGION``, ``FC_FUNCTION_NAME``, ...) and an FC-like context
  (``request_id``, ``function.name/.handler/.memory/.timeout``, ``region``, ``account_id`` — the python3.12
  shape, so no ``credentials``); ``initialize(context)`` runs first if the module has it; the event reaches
  ``handler`` as bytes, as on FC.
- Without the ECS endpoint variable in the environment an embedded LocalCloud (random port) is started, seeded
  from ``--state``, and the function's endpoints and credentials point at it. Which variables those are (and
  which outcome bus, change queue, store and allow-lists a local run sets) the application's template says
  in ``Metadata: LocalRun`` (:class:`~localcloud.template.LocalRun`; ``template.yml`` above ``functions/``).

stdout carries only the result: JSON when piped (or with ``--format json``), on a terminal a readable
summary when the host program knows the result's shape (sgrule renders outcomes, reports and HTTP
responses); the function's logs and prints go to stderr. Exit codes: 0 the handler returned, 1 it raised (or
timed out), 2 bad usage (unknown function, unreadable event or state, no credentials for an external
endpoint).

localcloud never imports the application: a host program (``sgrule local``) may pass ``reset``, run before and
after the call, so a per-instance state its code cached from another environment is never reused.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterator

from localcloud import wirejson
from localcloud.signing import DEFAULT_ACCOUNT_ID

if TYPE_CHECKING:
    from localcloud.template import LocalRun

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGION = "cn-hangzhou"


class InvokeError(Exception):
    """Bad usage: the function, event or state cannot be used (exit 2)."""


# --- FC-like context ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str = "index.handler"
    memory: int = 128
    timeout: int = 60
    initializer: str = "index.initialize"
    version_id: str = "LATEST"
    qualifier: str = "LATEST"


@dataclass(frozen=True)
class FCContext:
    """The fields the FC python3.12 runtime gives (python3.10 also has ``credentials``)."""

    request_id: str
    function: FunctionMeta
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    log_project: str = ""
    log_store: str = ""
    logger: Any = field(default=None, compare=False)


def fc_environment(meta: FunctionMeta, region: str, account_id: str, code_dir: Path) -> dict[str, str]:
    """The system variables FC sets in every instance (FC docs, "Configure environment variables")."""
    return {
        "FC_FUNCTION_NAME": meta.name,
        "FC_FUNCTION_HANDLER": meta.handler,
        "FC_FUNCTION_MEMORY_SIZE": str(meta.memory),
        "FC_FUNCTION_VERSION": meta.version_id,
        "FC_REGION": region,
        "FC_ACCOUNT_ID": account_id,
        "FC_INSTANCE_ID": f"c-local-{uuid.uuid4().hex[:16]}",
        "FC_FUNC_CODE_PATH": str(code_dir),
    }


# --- finding and loading the function -------------------------------------------------------------------

def resolve_function(name: str, cwd: Path | None = None) -> Path:
    """The folder holding the function's ``index.py``."""
    cwd = cwd or Path.cwd()
    candidates = [cwd / "functions" / name, REPO_ROOT / "functions" / name, Path(name)]
    for folder in candidates:
        if (folder / "index.py").is_file():
            return folder.resolve()
    known = sorted({p.parent.name for base in (cwd, REPO_ROOT) for p in (base / "functions").glob("*/index.py")})
    raise InvokeError(f"no function {name!r}: looked for index.py in "
                      f"{', '.join(str(c) for c in candidates[:2])}; known: {', '.join(known) or 'none'}")


def add_code_paths(code_dir: Path) -> None:
    """The code dir goes first on sys.path (FC runs with /code there), and the repository's ``shared/`` is
    added at the end when the function's libraries are not installed (packaging copies them in)."""
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    shared = code_dir.parent.parent / "shared"
    if shared.is_dir() and str(shared) not in sys.path:
        sys.path.append(str(shared))


def load_module(code_dir: Path, function_name: str) -> ModuleType:
    """Load ``index.py`` by path, with :func:`add_code_paths`."""
    add_code_paths(code_dir)
    spec = importlib.util.spec_from_file_location(f"fc_function_{function_name}", code_dir / "index.py")
    if spec is None or spec.loader is None:
        raise InvokeError(f"cannot load {code_dir / 'index.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "handler", None)):
        raise InvokeError(f"{code_dir / 'index.py'} has no handler(event, context)")
    return module


# --- environment ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def patched_environ(values: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """Set (and drop) variables for the run, then restore the caller's environment exactly."""
    saved = dict(os.environ)
    try:
        for key in remove:
            os.environ.pop(key, None)
        os.environ.update(values)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def parse_env_pairs(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvokeError(f"--env expects KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


# --- the embedded emulator ------------------------------------------------------------------------------

@dataclass
class Emulator:
    """What was started for this run and what to undo afterwards."""

    cloud: Any = None  # localcloud.server.LocalCloud when embedded
    control: Any = None  # ControlClient of an external localcloud, if it answers
    first_seq: int = 0  # calls before ours (an external emulator's log is shared)
    first_event: int = 0  # events before ours (a state may carry some)
    env: dict[str, str] = field(default_factory=dict)
    tmpdir: str | None = None


def read_state(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        state = wirejson.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvokeError(f"cannot read --state {path}: {exc}") from None
    if not isinstance(state, dict):
        raise InvokeError(f"--state {path}: expected {{\"ecs\": ..., \"eventbridge\": ...}} "
                          "(what GET /_emulator/state returns)")
    return state


def local_run_for(code_dir: Path, cwd: Path | None = None) -> LocalRun:
    """What the template of the function's application says a local run sets (``template.yml`` in the current
    directory, above the function's ``functions/`` folder, or in this repository); nothing when there is none."""
    from localcloud.template import LocalRun, read_local_run  # PyYAML: not on --help's path

    cwd = cwd or Path.cwd()
    for candidate in (cwd / "template.yml", code_dir.parent.parent / "template.yml", REPO_ROOT / "template.yml"):
        if candidate.is_file():
            return read_local_run(candidate)
    return LocalRun()


def start_emulator(state: dict[str, Any] | None, user_env: dict[str, str], log: Any,
                   local_run: LocalRun | None = None) -> Emulator:
    """Start LocalCloud on a free port and build the environment that points the function at it (the
    variables ``local_run`` names)."""
    from localcloud.server import LocalCloud
    from localcloud.signing import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET

    from localcloud.template import LocalRun

    names = local_run or LocalRun()

    def configured(key: str | None) -> str | None:
        return user_env.get(key, os.environ.get(key)) if key else None

    bus = configured(names.outcome_bus_variable) or "default"
    try:
        # Start-up buses survive state loading and resets, so the outcome bus always exists.
        cloud = LocalCloud(port=0, state=state, buses=[bus])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvokeError(f"--state is not a localcloud state: {type(exc).__name__}: {exc}") from None
    cloud.start()
    emu = Emulator(cloud=cloud, first_event=len(cloud.eventbridge.events()) if cloud.eventbridge else 0)
    # The products a single function talks to here (Function Compute is not emulated for a local invoke).
    emu.env = {names.endpoint_variables[p]: cloud.endpoint for p in ("ecs", "eventbridge", "mns")
               if p in names.endpoint_variables}
    emu.env.update({
        "ALIBABA_CLOUD_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": DEFAULT_ACCESS_KEY_SECRET,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",  # the emulator's key is given: never probe the metadata service
    })
    if names.outcome_bus_variable:
        emu.env[names.outcome_bus_variable] = bus
    if names.store_url_variable and not configured(names.store_url_variable):
        # A fresh store per run: the same sample gives the same outcomes every time.
        emu.tmpdir = tempfile.mkdtemp(prefix="sgrule-invoke-")
        emu.env[names.store_url_variable] = f"sqlite:///{emu.tmpdir}/idempotency.sqlite3"
    change_queue = configured(names.change_queue_variable) or "sgrule-changes"
    if cloud.mns is not None and not cloud.mns.has_queue(change_queue):
        cloud.mns.create_queue(change_queue)  # where the doors put rule changes
    opened = [k for k in names.allow_list_variables if not configured(k)]
    for key in opened:
        emu.env[key] = "*"
    log(f"localcloud: embedded emulator at {cloud.endpoint}"
        + (" (state loaded)" if state else " (empty state)") + f", outcome bus {bus!r}")
    if opened:
        log(f"localcloud: {' and '.join(opened)} unset: set to '*' for this run (everything allowed)")
    return emu


# Where the default credential chain of the Alibaba Cloud SDKs finds a key without asking the ECS metadata
# service (the chain's order: environment, OIDC role, CLI profile, credentials file, ECS RAM role, URI).
def credential_sources(env: dict[str, str], home: Path | None = None) -> list[str]:
    """The credential sources ``env`` (the function's environment) and the user's files offer, by name."""
    home = home or Path.home()

    def given(*names: str) -> bool:
        return all(env.get(name) for name in names)

    found = []
    if given("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        found.append("ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET")
    if given("ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE"):
        found.append("OIDC role (ALIBABA_CLOUD_ROLE_ARN)")
    if env.get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "").lower() != "true" and (home / ".aliyun" / "config.json").is_file():
        found.append("CLI profile (~/.aliyun/config.json)")
    if env.get("ALIBABA_CLOUD_CREDENTIALS_FILE"):
        found.append("ALIBABA_CLOUD_CREDENTIALS_FILE")
    elif (home / ".alibabacloud" / "credentials.ini").is_file() or (home / ".alibabacloud" / "credentials").is_file():
        found.append("credentials file (~/.alibabacloud/credentials.ini)")
    if env.get("ALIBABA_CLOUD_ECS_METADATA"):
        found.append("ECS RAM role (ALIBABA_CLOUD_ECS_METADATA)")
    if env.get("ALIBABA_CLOUD_CREDENTIALS_URI"):
        found.append("ALIBABA_CLOUD_CREDENTIALS_URI")
    return found


def check_credentials(endpoint: str, env: dict[str, str], variable: str = "the ECS endpoint") -> dict[str, str]:
    """For an external endpoint: the variables to add so a missing key fails at once instead of probing the
    metadata service (and retrying); :class:`InvokeError` naming what to set when there is no key at all."""
    if not credential_sources(env):
        raise InvokeError(
            f"{variable}={endpoint} is set, so the function signs its calls, but no credentials were "
            "found. Set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (in the environment or "
            "with --env; for a localcloud, the accessKeyId and accessKeySecret its `start` printed), or configure "
            "a profile (`aliyun configure`, ALIBABA_CLOUD_CREDENTIALS_FILE); on an ECS instance set "
            f"ALIBABA_CLOUD_ECS_METADATA to its RAM role. Or unset {variable} to run against an "
            "embedded localcloud.")
    if env.get("ALIBABA_CLOUD_ECS_METADATA") or env.get("ALIBABA_CLOUD_ECS_METADATA_DISABLED"):
        return {}
    return {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}  # a broken profile fails, never probes


def attach_external(endpoint: str) -> Emulator:
    """The ECS endpoint variable is set: use it. If it is a localcloud, remember where its call log stands."""
    from localcloud.control_client import ControlClient

    emu = Emulator()
    if not endpoint.startswith("http://"):
        return emu  # a real cloud endpoint: nothing to summarise
    try:
        control = ControlClient(endpoint)
        emu.first_seq = max((c.get("seq", 0) for c in control.calls()), default=0)
        emu.first_event = len(control.events())
        emu.control = control
    except Exception:  # noqa: BLE001  (not a localcloud, or not up: the function will say so)
        pass
    return emu


def summary(emu: Emulator) -> str | None:
    """One short paragraph on what the emulator saw during the run."""
    try:
        if emu.cloud is not None:
            calls = emu.cloud.calls.list()
            events = emu.cloud.eventbridge.events() if emu.cloud.eventbridge is not None else []
        elif emu.control is not None:
            calls, events = emu.control.calls(), emu.control.events()
        else:
            return None
    except Exception:  # noqa: BLE001  (an external emulator went away: no summary, not a failure)
        return None
    calls = [c for c in calls if c.get("seq", 0) > emu.first_seq]
    events = events[emu.first_event:]
    by_action: Counter[tuple[str, str]] = Counter()
    for c in calls:
        status = c.get("status")
        result = "ok" if isinstance(status, int) and 200 <= status < 300 else str(c.get("code") or c.get("fault"))
        by_action[(c.get("action") or "?", result)] += 1
    lines = [f"localcloud saw {len(calls)} API call(s):"]
    for (action, result), n in sorted(by_action.items()):
        lines.append(f"  {action:<36} {result:<30} x{n}")
    buses = Counter(e.get("bus") for e in events)
    lines.append(f"  events published: {len(events)}"
                 + (" (" + ", ".join(f"{n} to bus {b!r}" for b, n in sorted(buses.items())) + ")" if events else ""))
    mns = emu.cloud.mns if emu.cloud is not None else None
    for name in mns.queue_names() if mns is not None else []:
        try:
            waiting = len(mns.messages(name))  # type: ignore[union-attr]  # mypy loses the None check above
        except Exception:  # noqa: BLE001  (deleted meanwhile)
            continue
        if waiting:
            lines.append(f"  messages on queue {name!r}: {waiting}")
    return "\n".join(lines)


def stop_emulator(emu: Emulator) -> None:
    if emu.cloud is not None:
        emu.cloud.stop()
    if emu.tmpdir:
        shutil.rmtree(emu.tmpdir, ignore_errors=True)


# --- the call -------------------------------------------------------------------------------------------

@dataclass
class Result:
    ok: bool
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False


def call_function(module: ModuleType, event: bytes, context: FCContext, timeout: float) -> Result:
    """initialize (if any) then handler, on a worker thread so a hung handler still ends the run."""
    result = Result(ok=False)

    def run() -> None:
        try:
            init = getattr(module, "initialize", None)
            if callable(init):
                init(context)
            result.value = module.handler(event, context)
            result.ok = True
        except BaseException as exc:  # noqa: BLE001  (reported to the caller exactly like FC does)
            result.error = exc
            traceback.print_exc(file=sys.stderr)

    # The function's own print() goes to stderr: stdout is reserved for the result.
    with contextlib.redirect_stdout(sys.stderr):
        worker = threading.Thread(target=run, name="fc-invoke", daemon=True)
        worker.start()
        worker.join(timeout)
    if worker.is_alive():
        result.timed_out = True
    return result


def as_json(value: Any) -> Any:
    """The handler's return value as a JSON document: parse JSON text, decode bytes, keep the rest."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return wirejson.loads(value)
        except ValueError:
            return value
    return value


def pick_format(fmt: str | None) -> str:
    """The format asked for, else readable on a terminal and JSON when piped."""
    if fmt:
        return fmt
    try:
        return "table" if sys.stdout.isatty() else "json"
    except (AttributeError, ValueError):
        return "json"


def print_result(doc: Any, fmt: str | None, render: Any = None, compact: bool = False) -> None:
    """The result on stdout: JSON (pretty, or one line with ``compact``), or the host's readable form."""
    if not compact and pick_format(fmt) == "table" and render is not None:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        shown = render(doc, colour)
        if shown is not None:
            sys.stdout.write(shown if shown.endswith("\n") else shown + "\n")
            sys.stdout.flush()
            return
    _print_json(doc, compact)


def read_event(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InvokeError(f"cannot read --event {path}: {exc}") from None


def run(args: argparse.Namespace, render: Any = None, reset: Callable[[], None] | None = None) -> int:
    """``reset``: the host's hook that forgets what the function's code cached for its instance."""
    forget = reset or (lambda: None)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        code_dir = resolve_function(args.function)
        event = read_event(args.event)
        state = read_state(args.state)
        user_env = parse_env_pairs(args.env)
        meta = FunctionMeta(name=args.function_name or code_dir.name, memory=args.memory,
                            timeout=max(1, round(args.timeout)))
        context = FCContext(request_id=args.request_id or str(uuid.uuid4()), function=meta, region=args.region,
                            account_id=args.account_id)
        local_run = local_run_for(code_dir)
        ecs_variable = local_run.endpoint_variables.get("ecs")
        external = (user_env.get(ecs_variable) or os.environ.get(ecs_variable)) if ecs_variable else None
        if external:
            guard = check_credentials(external, {**os.environ, **user_env}, ecs_variable or "")
            log(f"local invoke: {ecs_variable}={external} is set: using it, no embedded emulator"
                + (" (--state ignored)" if state else ""))
            emu = attach_external(external)
            emu.env.update(guard)
        else:
            emu = start_emulator(state, user_env, log, local_run)
    except InvokeError as exc:
        log(f"local invoke: {exc}")
        return 2

    env = {**fc_environment(meta, args.region, args.account_id, code_dir), **emu.env, **user_env}
    drop = ("ALIBABA_CLOUD_SECURITY_TOKEN",) if emu.cloud is not None else ()  # the emulator's key is not STS
    try:
        with patched_environ(env, drop):
            forget()
            try:
                module = load_module(code_dir, meta.name)
            except InvokeError as exc:
                log(f"local invoke: {exc}")
                return 2
            except Exception as exc:  # noqa: BLE001  (an import error in the function is the function's error)
                traceback.print_exc(file=sys.stderr)
                return _print_error(exc, args.compact)
            log(f"local invoke: {meta.name}, request {context.request_id}, {len(event)} bytes of event")
            result = call_function(module, event, context, args.timeout)
            if result.timed_out:
                _print_error(TimeoutError(f"Function timed out after {args.timeout:g} seconds"), args.compact,
                             "FunctionTimedOut")
                _log_summary(emu, log)
                # Like FC stopping the instance: a hung handler's threads cannot be joined, so leave now.
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(1)
            forget()  # closes the store and joins the pool before the emulator goes away
        if not result.ok:
            assert result.error is not None
            return _print_error(result.error, args.compact)
        print_result(as_json(result.value), args.format, render, args.compact)
        return 0
    finally:
        _log_summary(emu, log)
        stop_emulator(emu)


def _log_summary(emu: Emulator, log: Any) -> None:
    text = summary(emu)
    if text:
        log(text)


def _print_json(doc: Any, compact: bool) -> None:
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) if compact else \
        json.dumps(doc, ensure_ascii=False, indent=2)
    print(text, flush=True)


def _print_error(exc: BaseException, compact: bool, error_type: str | None = None) -> int:
    """FC's error shape for an unhandled exception; the traceback is already on stderr."""
    _print_json({"errorMessage": str(exc), "errorType": error_type or type(exc).__name__}, compact)
    return 1


# --- argparse -------------------------------------------------------------------------------------------

DESCRIPTION = """\
Run an FC 3.0 Python function from functions/FUNCTION/index.py in this process, as Function Compute would:
FC environment variables (FC_FUNCTION_NAME, FC_REGION, ...), an FC-like context (request_id, function.name/
.memory/.timeout, region, account_id), initialize(context) if defined, then handler(event_bytes, context).

Without the ECS endpoint variable in the environment, an embedded localcloud (ECS + EventBridge + MNS, random
port) is started and seeded from --state, and the function is pointed at it. The application's template.yml
names the variables (Metadata: LocalRun; for sgrule SGRULE_ECS_ENDPOINT and so on): the ECS, EventBridge and MNS
endpoint variables get the emulator's address, ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET its key; unless set, the
outcome bus variable gets "default", the store URL variable a fresh temporary SQLite file, the allow-list
variables '*', and the change queue (the change queue variable's, or sgrule-changes) is created. A summary of
the API calls and published events it saw is printed to stderr afterwards. With the ECS endpoint variable set,
that endpoint is used as is.

stdout: the handler's return value as JSON (a JSON string return value is parsed), pretty-printed, or one
line with --compact; on a terminal, a readable summary instead (a status table of outcome events, an HTTP
response, a report) unless --format json. On an exception: {"errorMessage", "errorType"} on stdout, the
traceback on stderr. Logs always go to stderr.

With the ECS endpoint variable set the function signs its calls with the usual Alibaba Cloud credentials
(ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, a profile, ...); when there are none the run stops at once and says
what to set (the ECS metadata service is never probed unless ALIBABA_CLOUD_ECS_METADATA names a role)."""

EPILOG = """\
exit status: 0 the handler returned; 1 it raised or timed out; 2 bad usage (unknown function, unreadable
event or state, a timeout that is not positive, no credentials for an external endpoint).

example:
  sgrule local invoke apply_egress_rule --event events/apply/mns-batch.json --state events/apply/state.json
  sgrule local invoke apply_egress_rule --event events/apply/sync-invoke.json --state events/apply/state.json \\
      --env SGRULE_ALLOWED_SECURITY_GROUPS='sg-bp1*' --compact | jq '.[].data.status'"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("invoke", help="run a function in-process against an embedded localcloud",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("function", metavar="FUNCTION",
                   help="folder under functions/ (current directory first, then this repository), or a path to "
                        "a folder with index.py")
    p.add_argument("--event", required=True, metavar="FILE",
                   help="the event payload, passed to the handler as bytes exactly as read; - for stdin")
    p.add_argument("--state", metavar="FILE",
                   help="localcloud state to seed the embedded emulator: JSON {\"ecs\": ..., \"eventbridge\": ...} "
                        "as GET /_emulator/state returns it")
    p.add_argument("--timeout", type=positive_seconds, default=60, metavar="S",
                   help="the function's timeout: context.function.timeout, and the run is stopped after it "
                        "(default: 60)")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="extra environment variable for the function (repeatable); wins over everything else")
    p.add_argument("--memory", type=positive_int, default=128, metavar="MB",
                   help="context.function.memory (default: 128)")
    p.add_argument("--region", default=DEFAULT_REGION, help=f"FC_REGION and context.region (default: {DEFAULT_REGION})")
    p.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID,
                   help=f"FC_ACCOUNT_ID and context.account_id (default: localcloud's {DEFAULT_ACCOUNT_ID})")
    p.add_argument("--request-id", default=None, help="context.request_id (default: a random UUID)")
    p.add_argument("--function-name", default=None,
                   help="FC_FUNCTION_NAME and context.function.name (default: the folder name)")
    p.add_argument("--compact", action="store_true", help="print the result as JSON on one line")
    p.add_argument("--format", choices=("table", "json"), default=None,
                   help="the result: readable (table) on a terminal, JSON when piped (default)")
    return p


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds greater than 0 (0 would stop every run at once)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds greater than 0, e.g. 60")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number greater than 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number greater than 0")
    return value
