"""`python -m bench`'s orchestration: part selection, a missing or failing part recorded, the run merged."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench.__main__ import Part, parse_parts, record_run, run_part


def test_parts_come_in_the_issue_order_whatever_the_order_asked() -> None:
    assert [p.name for p in parse_parts("quality, retrieval,ingestion")] == [
        "ingestion",
        "retrieval",
        "quality",
    ]
    with pytest.raises(argparse.ArgumentTypeError, match="nosuch"):
        parse_parts("retrieval,nosuch")


def test_a_missing_module_and_a_failing_part_are_recorded_not_raised(tmp_path: Path) -> None:
    missing = run_part(Part("x", "bench.no_such_part", "x", 60, False), quick=False, index_ready=False)
    assert missing == {"status": "missing", "module": "bench.no_such_part"}
    # json.tool refuses --quick: a real subprocess that exits 2
    failed = run_part(Part("y", "json.tool", "y", 60, False), quick=True, index_ready=True)
    assert failed["status"] == "failed" and failed["exit"] == 2 and "--quick" in failed["stderr"]

    record_run({"ingestion": {"status": "ok", "seconds": 1.0}}, False, 1.0, tmp_path)
    record_run({"quality": failed}, True, 2.0, tmp_path)
    parts = json.loads((tmp_path / "run.json").read_text())["parts"]
    assert parts["ingestion"]["status"] == "ok" and parts["ingestion"]["quick"] is False
    assert parts["quality"]["status"] == "failed" and parts["quality"]["quick"] is True
