"""``sgrule package [--out build/]``: one code zip per function, ready for Function Compute.

``build/<folder>.zip`` for every ``functions/<folder>/`` (the object name template.yml's ``OssObjectName``
uses, and the folder localcloud maps it back to), holding at its root:

- the function's own files (``index.py``);
- ``sgrule/``, the library, with its package data (the normaliser's default policy) -- not the operator's
  CLI (``sgrule.cli``) or the callers' helper (``sgrule.client``), which no function imports;
- ``guardrails/``, the project's guardrails policies (``*.yml``, not their ``*.cases.yml`` tests), so
  ``SGRULE_GUARDRAILS_FILE=guardrails/<name>.yml`` names a file in the function's code root;
- the runtime dependencies of ``requirements.lock``, exactly those versions, installed for the functions'
  runtime (CPython 3.12, manylinux2014 x86_64 wheels) with ``pip install --no-deps --target``. A package
  published only as source is built into a wheel here, and must be pure Python (else: an error).

Never ``localcloud``, tests, ``__pycache__`` or ``.pyc`` files. Entries have fixed times and a fixed order
(the shared part sorted, then the function's own files), so the same sources and lock give byte-identical
zips. Wheels and the installed dependencies are cached under
``<out>/.cache/<lock hash>`` (the first build downloads from the package index; later ones are offline).
``--host`` builds for this interpreter and platform instead (the tests run the zips here).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .lock import LOCK_FILE, PROJECT, TARGET_PLATFORM, TARGET_PYTHON, read_lock

EXCLUDED_FROM_LIBRARY = ("cli", "client.py")  # tooling for operators and callers, never imported by a function
SKIPPED_PARTS = frozenset({"__pycache__", "bin"})
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


@dataclass(frozen=True)
class Built:
    folder: str
    path: Path
    size: int
    files: int


CACHE_FORMAT = b"2"  # bump when what the cache holds changes (e.g. how records are cleaned)


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


def site(lock: Path, target: Target, cache: Path, log: Callable[[str], None]) -> Path:
    """The locked packages installed (``pip install --no-deps --target``) for ``target``; cached per lock."""
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
    return _publish(tmp, out)


def _files(root: Path, skip: Callable[[Path], bool] = lambda _p: False) -> Iterator[tuple[Path, str]]:
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


def write_zip(dest: Path, entries: list[tuple[Path, str]], base: Path | None = None) -> int:
    """``dest`` = ``base`` (a zip already written, copied as it is) plus ``entries``, sorted, fixed times."""
    names = [name for _, name in entries]
    if base is not None:
        with zipfile.ZipFile(base) as zf:
            names += zf.namelist()
    clash = {n for n in names if names.count(n) > 1}
    if clash:
        raise PackageError(f"{dest.name}: more than one file for {sorted(clash)[:5]}")
    tmp = dest.with_suffix(".zip.tmp")
    if base is not None:
        shutil.copyfile(base, tmp)
    with zipfile.ZipFile(tmp, "a" if base is not None else "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=6) as zf:
        for path, name in sorted(entries, key=lambda e: e[1]):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(dest)
    return len(names)


def build(out: Path, *, project: Path = PROJECT, lock: Path | None = None, target: Target = Target(),
          cache: Path | None = None, functions: list[str] | None = None,
          log: Callable[[str], None] = lambda _m: None) -> list[Built]:
    lock = lock or project / LOCK_FILE
    if not lock.exists():
        raise PackageError(f"{lock} is missing: run `sgrule lock --write`")
    folders = sorted(p.name for p in (project / "functions").iterdir() if (p / "index.py").exists())
    unknown = sorted(set(functions or []) - set(folders))
    if unknown:
        raise PackageError(f"no functions/{unknown[0]}/index.py (functions: {', '.join(folders)})")
    deps = site(lock, target, cache or out / ".cache", log)
    library = project / "shared" / "sgrule"
    shared = list(library_files(library)) + list(policy_files(project)) + list(_files(deps))
    if any(name.split("/")[0] in ("localcloud", "tests", "sgrule.egg-info") for _, name in shared):
        raise PackageError("the dependencies hold emulator or test code; check requirements.lock")
    out.mkdir(parents=True, exist_ok=True)
    base = out / ".library.zip"  # what every function shares, compressed once
    write_zip(base, shared)
    built = []
    try:
        for folder in functions or folders:
            dest = out / f"{folder}.zip"
            count = write_zip(dest, list(_files(project / "functions" / folder)), base=base)
            built.append(Built(folder, dest, dest.stat().st_size, count))
            log(f"{dest}: {dest.stat().st_size / 1e6:.1f} MB, {count} files")
    finally:
        base.unlink(missing_ok=True)
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
    p.add_argument("--json", action="store_true", help="print the result as JSON even on a terminal")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tty = sys.stdout.isatty() and not args.json
    try:
        built = build(Path(args.out), lock=Path(args.lock) if args.lock else None, target=Target(host=args.host),
                      functions=args.functions, log=lambda m: print(m, file=sys.stderr))
    except PackageError as exc:
        print(f"sgrule package: {exc}", file=sys.stderr)
        return 1
    if tty:
        print(f"{'zip':<40} {'size':>9} {'files':>6}")
        for b in built:
            print(f"{str(b.path):<40} {b.size / 1e6:>7.1f} MB {b.files:>6}")
        target = "this machine" if args.host else f"python{TARGET_PYTHON} {TARGET_PLATFORM}"
        print(f"built {len(built)} zips for {target} in {time.monotonic() - started:.0f} s; upload them to the "
              "CodeBucket of template.yml (README, Deploy)")
    else:
        print(json.dumps([{"function": b.folder, "zip": str(b.path), "bytes": b.size, "files": b.files}
                          for b in built]))
    return 0
