"""Where the dependencies cost least: per-function zips (what ``sgrule package`` ships) against one shared layer
(``ALIYUN::FC3::LayerVersion``), each built here once (a script, not a test).

Both layouts are built here from the same lock for the functions' runtime, with bytecode:

- **per function** (shipped): each zip holds its function, the library and only the locked packages its code
  imports (and their requirements);
- **layer**: one layer zip holding every locked package under ``python/`` (FC unpacks a layer into ``/opt`` and
  puts ``/opt/python`` on the path), and per function a zip of its own code and the library only.

A cold instance downloads and unpacks its code and its layers, so the figure that matters per function is the
bytes an instance fetches: its zip, against the layer plus its thin zip. Also printed: the old layout (every
function carrying every package, no bytecode) as the baseline, and the totals stored.

    .venv/bin/python bench/bench_package.py
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from sgrule.cli.package import (PackageError, Target, _files, build, compiled, distributions,  # noqa: E402
                                interpreter, library_files, site, write_zip)


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def main() -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    target = Target()
    tmp = Path(tempfile.mkdtemp(prefix="bench-package-"))
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        python = interpreter(target)
        cache = ROOT / "build" / ".cache"
        shipped = {b.folder: b for b in build(tmp / "shipped", target=target, cache=cache, python=python, log=log)}
        lock = ROOT / "requirements.lock"
        deps = site(lock, target, cache, log, python)
        installed = distributions(deps, target.cache_tag)
        everything = [(deps / f, f) for files in installed.values() for f in files]
        layer = tmp / "layer.zip"
        write_zip(layer, [(p, f"python/{n}") for p, n in everything])
        library = compiled(library_files(ROOT / "shared" / "sgrule"), tmp / "stage" / "library", python, log)
        thin, old = {}, {}
        sources = [(p, n) for p, n in everything if not n.endswith(".pyc")]
        lib_sources = list(library_files(ROOT / "shared" / "sgrule"))
        for folder in shipped:
            own = compiled(_files(ROOT / "functions" / folder), tmp / "stage" / folder, python, log)
            thin[folder] = tmp / f"thin-{folder}.zip"
            write_zip(thin[folder], own + library)
            old[folder] = tmp / f"old-{folder}.zip"
            write_zip(old[folder], list(_files(ROOT / "functions" / folder)) + lib_sources + sources)
    except PackageError as exc:
        print(f"bench_package: failed to run: {exc}", file=sys.stderr)
        return 2
    layer_size = layer.stat().st_size
    print(f"python{target.python} {target.platform}, {len(installed)} locked packages; layer {mb(layer_size)}")
    head = f"{'function':<24} {'per-function zip':>17} {'layer + thin zip':>17} {'ratio':>6} {'old layout':>11} " \
           f"{'ratio':>6}"
    print(head)
    print("-" * len(head))
    totals = [0, layer_size, 0]
    for folder, b in shipped.items():
        t, o = thin[folder].stat().st_size, old[folder].stat().st_size
        totals[0] += b.size
        totals[1] += t
        totals[2] += o
        print(f"{folder:<24} {mb(b.size):>17} {mb(layer_size + t):>17} {b.size / (layer_size + t):>6.2f} "
              f"{mb(o):>11} {b.size / o:>6.2f}")
    print(f"{'stored (all functions)':<24} {mb(totals[0]):>17} {mb(totals[1]):>17} {totals[0] / totals[1]:>6.2f} "
          f"{mb(totals[2]):>11} {totals[0] / totals[2]:>6.2f}")
    print("(ratio: the per-function zip over the other layout, per cold instance; the old layout: every package, "
          "no bytecode)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
