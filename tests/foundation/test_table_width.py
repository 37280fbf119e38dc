"""Tables on a terminal align by display width: a Chinese character (East Asian wide) takes two columns, so a
column after a Chinese cell starts where it starts after an ASCII one. Alibaba Cloud users write rule
descriptions and ticket titles in Chinese."""
from __future__ import annotations

import unicodedata
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sgrule.cli.output import cell, columns, render_outcomes, table
from sgrule.cli.validate import Checked, FileReport, render_table
from sgrule.contract.errors import SgruleError


def width(text: str) -> int:
    """Terminal columns as terminals count them (wcwidth): nonspacing and enclosing marks and format characters
    0, East Asian wide and fullwidth 2, the rest 1."""
    return sum(0 if unicodedata.category(c) in ("Mn", "Me", "Cf") else
               2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def starts(line: str, cells: list[str]) -> list[int]:
    """The display column where each of ``cells`` begins in ``line`` (searched left to right)."""
    out, pos = [], 0
    for c in cells:
        pos = line.index(c, pos)
        out.append(width(line[:pos]))
        pos += len(c)
    return out


def test_columns_after_chinese_cells_line_up() -> None:
    rows = [["applied", "JIRA-1", "允许访问数据库", "next"],
            ["rejected", "工单-二号", "ｆｕｌｌｗｉｄｔｈ", "next"],
            ["ok", "café", "e\u0301e\u0301", "next"],
            ["unchanged", "x", "ascii only", "next"]]
    out = table(["status", "change", "description", "after"], rows).splitlines()
    positions = {tuple(starts(line, r)) for line, r in zip(out[1:], rows)}
    assert len(positions) == 1, out  # every row's cells start at the same display columns
    assert starts(out[0], ["STATUS", "CHANGE", "DESCRIPTION", "AFTER"]) == list(positions.pop())


@given(st.lists(st.lists(st.text(st.characters(codec="utf-8", categories=["Lo", "Ll", "Lu", "Nd", "Mn"]),
                                 min_size=1, max_size=8), min_size=3, max_size=3), min_size=1, max_size=5))
def test_any_letters_line_up(rows: list[list[str]]) -> None:
    rows = [[c.strip() or "x" for c in r] + ["END"] for r in rows]
    out = table(["a", "b", "c", "d"], rows).splitlines()[1:]
    ends = {width(line[:line.rindex("END")]) for line in out}
    assert len(ends) == 1, out


def test_a_cut_cell_fits_its_width_in_columns() -> None:
    for value in ("允许访问数据库服务器的出方向规则", "ab允许cd访问ef", "x" * 50):
        for cap in range(3, 20):
            shown = cell(value, cap)
            assert width(shown) <= cap and (shown == value or shown.endswith("…"))
            assert value.startswith(shown.removesuffix("…"))
    assert columns("允许a") == 5 and columns("e\u0301") == 1


def outcome(status: str, change: str, message: str | None = None) -> dict[str, Any]:
    error = {"code": "InvalidSecurityGroupDiscription.Malformed", "message": message} if message else None
    return {"type": f"sgrule.egress.modify.{status}",
            "data": {"status": status, "changeId": change, "securityGroupId": "sg-1", "securityGroupRuleId": "sgr-1",
                     "error": error}}


def test_the_pipeline_summary_aligns_chinese_change_ids() -> None:
    out = render_outcomes([outcome("applied", "工单-1042"), outcome("rejected", "JIRA-7", "描述太长"),
                           outcome("unchanged", "CAB-3")]).splitlines()
    rule_column = {width(line[:line.index("sg-1/sgr-1")]) for line in out[1:4]}
    assert len(rule_column) == 1, out


def test_validate_table_aligns_chinese_ids() -> None:
    report = FileReport("batch.json", events=[
        Checked("batch.json", 0, None, "变更-数据库", [SgruleError("InvalidPolicy.Malformed", "策略无效",
                                                                     field="data.Policy")]),
        Checked("batch.json", 1, None, "JIRA-2", [SgruleError("InvalidParam.PortRange", "端口范围无效",
                                                                   field="data.PortRange")])])
    out = render_table([report]).splitlines()
    error_column = {width(line[:line.index("Invalid")]) for line in out[1:3]}
    assert len(error_column) == 1, out
