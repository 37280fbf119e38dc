"""`make` recovers from a broken .venv: an install that failed halfway is never taken for done, a venv whose
python is gone is made again, and `make clean` starts over.

The repository's own Makefile runs in a scratch folder with a stand-in interpreter (``PYTHON=...``): it makes
a "venv" whose ``bin/python`` is a link to a script that logs each call and fails ``pip install`` on demand,
so what make decides is observable without installing anything.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/bin/sh
# stand-in for python3: `-m venv DIR` makes DIR/bin/python, a link to a fresh interpreter script
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  n=$(cat "$WORK/venvs" 2>/dev/null || echo 0); echo $((n + 1)) > "$WORK/venvs"
  interp="$WORK/interp-$n"
  cat > "$interp" <<'EOS'
#!/bin/sh
echo "$*" >> "$WORK/calls.log"
case "$*" in
  *"pip install -q -e"*) [ -e "$WORK/fail-install" ] && { echo "ERROR: pretend network failure" >&2; exit 1; } ;;
  "-c print('ok')") echo ok ;;
  "-m pip --version") [ -e "$WORK/no-pip" ] && exit 1 ;;
esac
exit 0
EOS
  chmod +x "$interp"
  mkdir -p "$3/bin" && ln -s "$interp" "$3/bin/python"
  echo "venv $3 -> interp-$n" >> "$WORK/calls.log"
  exit 0
fi
echo "unexpected: $*" >&2
exit 3
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make (the README's quick start does)")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "Makefile", work / "Makefile")
    (work / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return work


def make(project: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORK": str(project)}
    return subprocess.run(["make", "-s", f"PYTHON={project.parent / 'python3'}", *targets], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)


def calls(project: Path) -> list[str]:
    log = project / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return [line for line in lines if line not in ("-c print('ok')", "-m pip --version")]  # make's own probes


STAMP = Path(".venv/.installed")


def test_a_fresh_clone_installs_once(project: Path) -> None:
    assert make(project, "test").returncode == 0
    assert calls(project) == ["venv .venv -> interp-0", "-m pip install -q --upgrade pip",
                              "-m pip install -q -e .[dev]", "-c import sgrule.cli, localcloud.cli, pytest",
                              "-m pytest"]
    assert (project / STAMP).exists()
    assert make(project, "test").returncode == 0
    assert calls(project) == ["-m pytest"]  # installed: not again


def test_an_install_that_failed_halfway_is_not_taken_for_done(project: Path) -> None:
    (project / "fail-install").touch()
    res = make(project, "test")
    assert res.returncode != 0
    assert not (project / STAMP).exists()
    assert "installing into .venv failed" in res.stderr and "make clean" in res.stderr
    assert "-m pytest" not in calls(project)
    (project / "fail-install").unlink()  # the cause is fixed: the next make installs, in the same venv
    assert make(project, "test").returncode == 0
    assert calls(project) == ["-m pip install -q --upgrade pip", "-m pip install -q -e .[dev]",
                              "-c import sgrule.cli, localcloud.cli, pytest", "-m pytest"]


def test_a_failed_reinstall_removes_an_old_stamp(project: Path) -> None:
    assert make(project).returncode == 0
    calls(project)
    os.utime(project / "pyproject.toml", (2_000_000_000, 2_000_000_000))  # changed since the install
    (project / "fail-install").touch()
    assert make(project, "test").returncode != 0
    assert not (project / STAMP).exists()  # the old stamp does not claim the failed install


def test_a_venv_whose_python_is_gone_is_made_again(project: Path) -> None:
    assert make(project).returncode == 0
    calls(project)
    (project / "interp-0").unlink()  # the interpreter the venv was made from is gone
    res = make(project, "test")
    assert res.returncode == 0, res.stderr
    assert "has no working python: making it again" in res.stdout
    assert calls(project) == ["venv .venv -> interp-1", "-m pip install -q --upgrade pip",
                              "-m pip install -q -e .[dev]", "-c import sgrule.cli, localcloud.cli, pytest",
                              "-m pytest"]
    assert (project / STAMP).exists()


def test_a_venv_made_halfway_without_pip_is_made_again(project: Path) -> None:
    assert make(project).returncode == 0
    assert calls(project)[0] == "venv .venv -> interp-0"
    (project / ".venv" / ".installed").unlink()
    (project / "no-pip").touch()  # e.g. ensurepip was interrupted: python runs, pip is missing
    assert make(project).returncode == 0
    assert calls(project)[0] == "venv .venv -> interp-1"  # made again, not reused


def test_make_clean_starts_over(project: Path) -> None:
    assert make(project).returncode == 0
    (project / ".pytest_cache").mkdir()
    calls(project)
    assert make(project, "clean").returncode == 0
    assert not (project / ".venv").exists() and not (project / ".pytest_cache").exists()
    assert make(project, "test").returncode == 0
    assert calls(project)[0] == "venv .venv -> interp-1"


def test_make_help_lists_the_targets(project: Path) -> None:
    res = make(project, "help")
    assert res.returncode == 0
    for target in ("make run", "make test", "make bench", "make schemas", "make clean"):
        assert target in res.stdout
    assert calls(project) == []  # help installs nothing


def test_a_lock_file_constrains_the_install_and_a_change_to_it_reinstalls(project: Path) -> None:
    (project / "requirements.lock").write_text("pydantic==2.0.0\n")
    assert make(project).returncode == 0
    assert "-m pip install -q -c requirements.lock -e .[dev]" in calls(project)
    os.utime(project / "requirements.lock", (2_000_000_000, 2_000_000_000))  # re-pinned since
    assert make(project).returncode == 0
    assert "-m pip install -q -c requirements.lock -e .[dev]" in calls(project)


def test_make_lint_runs_ruff_and_mypy(project: Path) -> None:
    # CI's first gate: a lint target that ran nothing would pass every change unchecked.
    res = subprocess.run(["make", "-n", "lint"], cwd=project, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    commands = [line.strip() for line in res.stdout.splitlines()]
    assert ".venv/bin/ruff check ." in commands and ".venv/bin/mypy" in commands
