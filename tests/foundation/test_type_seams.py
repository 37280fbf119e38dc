"""The type checker keeps the seams: a journal record that loses a field, or a caller that reaches for a store
method its Protocol does not offer, fails ``make lint`` (mypy, strict on the engine and the store).

mypy runs on a copy of ``sgrule`` with one record's field removed and one caller's reach widened; the real
tree's check is ``make lint`` itself (CI runs it before the tests)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
api = pytest.importorskip("mypy.api")


def _mypy(tree: Path) -> str:
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8").replace('packages = ["sgrule", "localcloud"]',
                                                                            'packages = ["sgrule"]')
    (tree / "pyproject.toml").write_text(config, encoding="utf-8")
    out, err, _ = api.run(["--config-file", str(tree / "pyproject.toml"), "--cache-dir", str(tree / ".cache"),
                           "--python-executable", sys.executable])
    return out + err


@pytest.mark.slow
def test_a_dropped_record_field_and_a_store_method_outside_the_protocol_fail_the_check(tmp_path: Path,
                                                                                       monkeypatch) -> None:
    shutil.copytree(ROOT / "shared" / "sgrule", tmp_path / "shared" / "sgrule",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)
    assert "Success" in _mypy(tmp_path)  # the copy as it is passes

    records = tmp_path / "shared" / "sgrule" / "store" / "records.py"
    text = records.read_text(encoding="utf-8")
    assert "    calls: int = 0\n" in text
    records.write_text(text.replace("    calls: int = 0\n", "", 1), encoding="utf-8")  # InEffect loses `calls`
    memory = tmp_path / "shared" / "sgrule" / "webhook" / "memory.py"
    memory.write_text(memory.read_text(encoding="utf-8") + (
        "\n\ndef _peek(m: Memory) -> object:\n    return m.store.lock_rules(['r'], 'o', 1.0)\n"), encoding="utf-8")
    found = _mypy(tmp_path)
    assert 'InEffect" has no attribute "calls"' in found or "Unexpected keyword argument \"calls\"" in found, found
    assert '"Claims" has no attribute "lock_rules"' in found, found
