"""``sgrule package [--out build/]``: one code zip per function, ready for Function Compute.

``build/<folder>.zip`` for every ``functions/<folder>/`` (the object name template.yml's ``OssObjectName``
uses, and the folder localcloud maps it back to), holding at its root:

- the function's own files (``index.py``);
- ``sgrule/``, the library, with its package data (the normaliser's default policy) -- not the operator's
  CLI (``sgrule.cli``) or the callers' helper (``sgrule.client``), which no function imports;
- ``guardrails/``, the project's guardrails policies (``*.yml``, not their ``*.cases.yml`` tests), so
  ``SGRULE_GUARDRAILS_FILE=guardrails/<name>.yml`` names a file in the function's code root;
- of the runtime dependencies of ``requirements.lock`` (exactly those versions, installed for the functions'
  runtime -- CPython 3.12, manylinux2014 x86_64 wheels -- with ``pip install --no-deps --target``), only the
  ones the function's code imports and what they require: the imports are found by following the function's
  own (:mod:`sgrule.cli.imports`), each named module's distribution and its requirements (markers for the
  runtime) are taken whole. A package published only as source is built into a wheel here, and must be pure
  Python (else: an error);
- bytecode for the runtime's interpreter only (``__pycache__/*.cpython-312.pyc``), compiled by that
  interpreter with hash-based invalidation (``compileall --invalidation-mode unchecked-hash``): Function
  Compute's code folder is read-only, so an instance can write no bytecode of its own and would compile every
  module it imports on every cold start; unchecked hashes stay valid whatever times the files get when
  unpacked. The interpreter is ``python3.12`` on the PATH (``--python-exe`` names another).

Never ``localcloud``, tests, or bytecode of another interpreter. Entries have fixed times and are sorted, so
the same sources and lock give byte-identical zips. Wheels and the installed, compiled dependencies are
cached under ``<out>/.cache/<lock hash>`` (the first build downloads from the package index; later ones are
offline). ``--host`` builds for this interpreter and platform instead (the tests run the zips here).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterator

from .lock import LOCK_FILE, PROJECT, TARGET, TARGET_PLATFORM, TARGET_PYTHON, read_lock

EXCLUDED_FROM_LIBRARY = ("cli", "client.py")  # tooling for operators and callers, never imported by a function
SKIPPED_PARTS = frozenset({"__pycache__", "bin"})
# Where Function Compute unpacks the code: the file names compiled into the bytecode (tracebacks show them;
# Python puts the real location back when it loads a module), the same wherever the build ran.
CODE_ROOT = "/code"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    """Packaging cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """What the dependencies are installed for: the functions' runtime, or (``host``) this interpreter."""

    host: bool = False
    python: str = TARGET_PYTHON
    platform: str = TARGET_PLATFORM

    @property
    def tag(self) -> str:
        if self.host:
            return f"host-cp{sys.version_info.major}{sys.version_info.minor}-{sys.platform}"
        return f"cp{self.python.replace('.', '')}-{self.platform}"

    def pip_args(self) -> list[str]:
        if self.host:
            return []
        return ["--platform", self.platform, "--python-version", self.python, "--implementation", "cp"]

    @property
    def version(self) -> str:
        return f"{sys.version_info.major}.{sys.version_info.minor}" if self.host else self.python

    @property
    def cache_tag(self) -> str:
        """The bytecode file tag of the target interpreter (``cpython-312``)."""
        return sys.implementation.cache_tag if self.host else f"cpython-{self.python.replace('.', '')}"

    def environment(self) -> dict[str, str]:
        """Environment markers of the target, for the dependencies' requirements."""
        if self.host:
            from packaging.markers import default_environment

            return {k: str(v) for k, v in default_environment().items()}
        return dict(TARGET, python_version=self.python, python_full_version=f"{self.python}.0")


@dataclass(frozen=True)
class Built:
    folder: str
    path: Path
    size: int
    files: int
    distributions: tuple[str, ...] = field(default=())  # the locked packages it carries


CACHE_FORMAT = b"3"  # bump when what the cache holds changes (3: the dependencies are compiled)


def lock_key(lock: Path, target: Target) -> str:
    digest = hashlib.sha256(CACHE_FORMAT + lock.read_bytes() + target.tag.encode()).hexdigest()
    return f"{target.tag}-{digest[:16]}"


def _pip(*args: str, log: Callable[[str], None]) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise PackageError(f"pip {args[0]} failed (exit {proc.returncode}):\n{tail}")
    log(f"pip {args[0]}: ok")


def wheelhouse(lock: Path, target: Target, cache: Path, log: Callable[[str], None]) -> Path:
    """Every locked package as a wheel for ``target`` (downloaded once per lock and target)."""
    house = cache / "wheels" / lock_key(lock, target)
    if house.is_dir():
        return house
    tmp = _scratch(house)
    log(f"downloading {len(read_lock(lock))} locked packages for {target.tag} ...")
    _pip("download", "--no-deps", "--prefer-binary", "--quiet", "--dest", str(tmp), *target.pip_args(),
         "-r", str(lock), log=log)
    for sdist in sorted(p for p in tmp.iterdir() if p.name.endswith((".tar.gz", ".zip"))):
        log(f"building a wheel from {sdist.name} (published as source only) ...")
        _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp), str(sdist), log=log)
        sdist.unlink()
    impure = [p.name for p in tmp.glob("*.whl") if not p.name.endswith("-none-any.whl")
              and not _fits(p.name, target)]
    if impure:
        raise PackageError(f"no wheel for {target.tag}: {', '.join(impure)} (built here from source, not pure "
                           "Python); pin a version that publishes one in requirements.lock")
    return _publish(tmp, house)


def _scratch(final: Path) -> Path:
    """A private folder next to ``final``, renamed into place when complete (builds running at the same
    time never see each other's half-done work)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))


def _publish(tmp: Path, final: Path) -> Path:
    try:
        tmp.rename(final)
    except OSError:  # another build got there first: same lock, same content
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _fits(wheel: str, target: Target) -> bool:
    if target.host:
        return True  # pip chose it for this interpreter
    tags = wheel[:-4].split("-")[-3:]
    return "manylinux" in tags[2] and tags[2].endswith("x86_64")


def interpreter(target: Target, explicit: str | None = None) -> str:
    """The interpreter that compiles the bytecode: the target's own minor version, or an error saying how to
    get one."""
    if target.host:
        return sys.executable
    candidates = [explicit] if explicit else [f"python{target.python}", *sorted(
        str(p) for p in Path.home().glob(f".pyenv/versions/{target.python}.*/bin/python{target.python}"))]
    for candidate in candidates:
        exe = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if exe is None:
            continue
        proc = subprocess.run([exe, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True,
                              text=True)
        if proc.returncode == 0 and proc.stdout.strip() == target.cache_tag:
            return exe
    raise PackageError(f"no Python {target.python} interpreter to compile the bytecode with "
                       f"({explicit or f'python{target.python} is not on the PATH'}): install it (e.g. "
                       f"`pyenv install {target.python}`) or name one with --python-exe")


def compile_tree(python: str, root: Path, log: Callable[[str], None]) -> None:
    """Bytecode for every module under ``root`` (``__pycache__`` beside each), hash-checked never (unchecked
    hashes), the file names as Function Compute will see them (``/code/...``)."""
    proc = subprocess.run([python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                           "-s", str(root), "-p", CODE_ROOT, str(root)], capture_output=True, text=True)
    if proc.returncode != 0:
        # A module that does not compile for this interpreter cannot be imported by it either; say which.
        failed = [line for line in proc.stdout.splitlines() if line.startswith("*** Error compiling")]
        log(f"compileall: {len(failed)} file(s) do not compile for {python} (never importable there): "
            + "; ".join(line.split("'")[1] if "'" in line else line for line in failed[:5]))
    log(f"compiled {root.name} with {python}")


def site(lock: Path, target: Target, cache: Path, log: Callable[[str], None], python: str | None = None) -> Path:
    """The locked packages installed (``pip install --no-deps --target``) for ``target`` and compiled by its
    interpreter; cached per lock."""
    out = cache / "site" / lock_key(lock, target)
    if out.is_dir():
        return out
    house = wheelhouse(lock, target, cache, log)
    tmp = _scratch(out)
    log(f"installing them for {target.tag} ...")
    _pip("install", "--no-deps", "--no-index", "--find-links", str(house), "--only-binary=:all:", "--quiet",
         "--no-compile", "--target", str(tmp), *target.pip_args(), "-r", str(lock), log=log)
    for record in tmp.glob("*.dist-info/RECORD"):
        # Console scripts land in bin/ (not shipped) with this machine's interpreter path in their first line:
        # drop them from the records, so the zips list what they hold and do not depend on where pip ran.
        lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
        record.write_text("".join(line for line in lines if not line.startswith("../")), encoding="utf-8")
    compile_tree(python or interpreter(target), tmp, log)
    return _publish(tmp, out)


def _files(root: Path, skip: Callable[[Path], bool] = lambda _p: False) -> Iterator[tuple[Path, str]]:
    """Source and data files under ``root`` (never bytecode: it is compiled for the target here)."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or SKIPPED_PARTS & set(rel.parts) or path.suffix in (".pyc", ".pyo") or skip(rel):
            continue
        yield path, rel.as_posix()


def library_files(library: Path) -> Iterator[tuple[Path, str]]:
    """``sgrule/...`` entries: the package and its data, without the tooling."""
    for path, rel in _files(library, skip=lambda r: r.parts[0] in EXCLUDED_FROM_LIBRARY):
        yield path, f"sgrule/{rel}"


def policy_files(project: Path) -> Iterator[tuple[Path, str]]:
    """``guardrails/...`` entries: the policies a function may be configured with, without their cases."""
    folder = project / "guardrails"
    if folder.is_dir():
        for path, rel in _files(folder, skip=lambda r: not r.name.endswith(".yml") or r.name.endswith(".cases.yml")):
            yield path, f"guardrails/{rel}"


def compiled(entries: Iterator[tuple[Path, str]], stage: Path, python: str,
             log: Callable[[str], None]) -> list[tuple[Path, str]]:
    """``entries`` copied under ``stage`` and compiled there: the same entries plus their bytecode."""
    for path, name in entries:
        dest = stage / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    compile_tree(python, stage, log)
    return [(p, p.relative_to(stage).as_posix()) for p in sorted(stage.rglob("*")) if p.is_file()]


def distributions(deps: Path, cache_tag: str) -> dict[str, list[str]]:
    """Canonical name -> the files of each installed distribution (its RECORD, without scripts), with the
    bytecode compiled beside its modules for ``cache_tag``. Every file under ``deps`` belongs to one."""
    from packaging.utils import canonicalize_name

    out: dict[str, list[str]] = {}
    for info in sorted(deps.glob("*.dist-info")):
        meta = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        name = next((line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Name:")),
                    info.name.split("-")[0])
        with open(info / "RECORD", encoding="utf-8", newline="") as fh:
            files = [row[0] for row in csv.reader(fh) if row and not row[0].startswith("../")
                     and "__pycache__" not in row[0] and not row[0].endswith((".pyc", ".pyo"))]
        compiled_files = []
        for rel in files:
            if rel.endswith(".py"):
                stem = Path(rel)
                pyc = (stem.parent / "__pycache__" / f"{stem.stem}.{cache_tag}.pyc").as_posix()
                if (deps / pyc).exists():
                    compiled_files.append(pyc)
        out[canonicalize_name(name)] = files + compiled_files
    owned = {f for files in out.values() for f in files}
    stray = sorted(n for _, n in _files(deps) if n not in owned)
    if stray:
        raise PackageError(f"files of no installed distribution in {deps}: {stray[:5]}; `make clean` and build again")
    return out


# Distributions whose requirements a function never loads, so its zip does not carry them, with the reason.
LEAVES = frozenset({
    # sgrule.cel loads the library's compiled module alone; typer, rich, prompt-toolkit and pygments serve
    # only the command-line tool its package __init__ imports, which no function runs.
    "common-expression-language",
})


def needed_distributions(project: Path, folder: str, target: Target) -> list[str]:
    """The locked distributions ``functions/<folder>`` needs: those providing the modules its code imports
    (:func:`sgrule.cli.imports.external_imports`) and their requirements, markers evaluated for ``target``."""
    import importlib.metadata as md

    from packaging.utils import canonicalize_name

    from .imports import external_imports, function_modules
    from .lock import LockError, resolve

    names = external_imports(function_modules(project / "functions" / folder, shared=project / "shared"))
    providers = md.packages_distributions()
    unknown = sorted(n for n in names if n not in providers)
    if unknown:
        raise PackageError(f"functions/{folder} imports {', '.join(unknown)}, which no installed package provides: "
                           "add it to pyproject.toml's dependencies, install, and `make lock`")
    direct: list[str] = sorted({canonicalize_name(d) for n in names for d in providers[n]})
    try:
        return sorted({pin.name for pin in resolve(direct, target.environment(), leaves=LEAVES)})
    except LockError as exc:
        raise PackageError(str(exc)) from None


def write_zip(dest: Path, entries: list[tuple[Path, str]]) -> int:
    """``dest`` holding ``entries``, sorted by name, with fixed times and modes (reproducible)."""
    names = [name for _, name in entries]
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise PackageError(f"{dest.name}: more than one file for {sorted(clash)[:5]}")
    tmp = dest.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path, name in sorted(entries, key=lambda e: e[1]):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(dest)
    return len(names)


def build(out: Path, *, project: Path = PROJECT, lock: Path | None = None, target: Target = Target(),
          cache: Path | None = None, functions: list[str] | None = None, python: str | None = None,
          log: Callable[[str], None] = lambda _m: None) -> list[Built]:
    lock = lock or project / LOCK_FILE
    if not lock.exists():
        raise PackageError(f"{lock} is missing: run `sgrule lock --write`")
    folders = sorted(p.name for p in (project / "functions").iterdir() if (p / "index.py").exists())
    unknown = sorted(set(functions or []) - set(folders))
    if unknown:
        raise PackageError(f"no functions/{unknown[0]}/index.py (functions: {', '.join(folders)})")
    python = interpreter(target, python)
    deps = site(lock, target, cache or out / ".cache", log, python)
    installed = distributions(deps, target.cache_tag)
    if any(name.split("/")[0] in ("localcloud", "tests", "sgrule") for files in installed.values() for name in files):
        raise PackageError("the dependencies hold emulator, test or sgrule code; check requirements.lock")
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=out))
    built = []
    try:
        library = compiled(chain(library_files(project / "shared" / "sgrule"), policy_files(project)),
                           stage / "library", python, log)
        for folder in functions or folders:
            needed = needed_distributions(project, folder, target)
            missing = sorted(set(needed) - set(installed))
            if missing:
                raise PackageError(f"functions/{folder} needs {', '.join(missing)}, not in {lock.name}: "
                                   "`make lock` after installing it")
            own = compiled(_files(project / "functions" / folder), stage / folder, python, log)
            entries = own + library + [(deps / f, f) for d in needed for f in installed[d]]
            dest = out / f"{folder}.zip"
            count = write_zip(dest, entries)
            built.append(Built(folder, dest, dest.stat().st_size, count, tuple(needed)))
            log(f"{dest}: {dest.stat().st_size / 1e6:.1f} MB, {count} files, {len(needed)} of "
                f"{len(installed)} locked packages")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return built


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("package", help="build one code zip per function (build/<folder>.zip) from the lock file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="build", help="output folder (default: %(default)s)")
    p.add_argument("--lock", default=None, help=f"lock file (default: {LOCK_FILE} of the project)")
    p.add_argument("--function", action="append", dest="functions", metavar="FOLDER",
                   help="only this function (repeatable; default: every functions/<folder>)")
    p.add_argument("--host", action="store_true",
                   help="install the dependencies for this interpreter and platform (local runs), not for FC")
    p.add_argument("--python-version", default=TARGET_PYTHON, metavar="X.Y",
                   help="the functions' runtime (template.yml's Runtime pythonX.Y; default: %(default)s): wheels and "
                        "bytecode for it")
    p.add_argument("--python-exe", default=None, metavar="PATH",
                   help=f"interpreter that compiles the bytecode (default: python{TARGET_PYTHON} on the PATH; "
                        "with --host this one)")
    p.add_argument("--json", action="store_true", help="print the result as JSON even on a terminal")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tty = sys.stdout.isatty() and not args.json
    try:
        target = Target(host=args.host, python=args.python_version)
        built = build(Path(args.out), lock=Path(args.lock) if args.lock else None, target=target,
                      functions=args.functions, python=args.python_exe, log=lambda m: print(m, file=sys.stderr))
    except PackageError as exc:
        print(f"sgrule package: {exc}", file=sys.stderr)
        return 1
    if tty:
        print(f"{'zip':<40} {'size':>9} {'files':>6} {'packages':>8}")
        for b in built:
            print(f"{str(b.path):<40} {b.size / 1e6:>7.1f} MB {b.files:>6} {len(b.distributions):>8}")
        where = "this machine" if args.host else f"python{target.python} {target.platform}"
        print(f"built {len(built)} zips for {where} in {time.monotonic() - started:.0f} s; upload them to the "
              "CodeBucket of template.yml (README, Deploy)")
    else:
        print(json.dumps([{"function": b.folder, "zip": str(b.path), "bytes": b.size, "files": b.files,
                           "packages": list(b.distributions)} for b in built]))
    return 0
