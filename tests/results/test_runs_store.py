"""``fleetload runs``: listing and showing runs of any results folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fleetload.cli.runs import short_source
from tests.conftest import run_cli
from tests.support.runs import SCRIPT


def run_id(path: Path) -> str:
    return str(json.loads((path / "meta.json").read_text())["run_id"])


def test_runs_lists_newest_first_and_shows_by_id_prefix_or_path(fast_run, slow_run, results_root):
    r = run_cli("runs", "--results-dir", str(results_root))
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["run", "id"]
    fast_id, slow_id = run_id(fast_run.path), run_id(slow_run.path)
    # The slow run started later, so it comes first.
    assert [line.split()[0] for line in lines[1:]] == [slow_id, fast_id]
    assert "failed" in lines[1] and " 99 " in lines[1]
    # The source column keeps the script's file name however deep the
    # checkout is: long paths are cut from the left.
    assert "passed" in lines[2] and lines[2].endswith("/mixed.py")
    source = lines[2].split("  ")[-1].strip()
    assert len(source) <= 48 and str(SCRIPT).endswith(source.lstrip("…"))

    text = (fast_run.path / "summary.txt").read_text()
    for ref in (fast_id, fast_id[:-2], str(fast_run.path), "fast"):
        shown = run_cli("runs", "show", ref, "--results-dir", str(results_root))
        assert shown.code == 0, (ref, shown.stderr)
        assert shown.stdout == text
    # --results-dir also works before the subcommand.
    assert run_cli("runs", "--results-dir", str(results_root), "show", slow_id).code == 0


def test_runs_errors_are_clear_exit_2(fast_run, slow_run, results_root, tmp_path):
    unknown = run_cli("runs", "show", "19990101", "--results-dir", str(results_root))
    assert unknown.code == 2 and "no run '19990101'" in unknown.stderr
    # Both run ids start with the same date: ambiguous.
    common = run_id(fast_run.path)[:4]
    ambiguous = run_cli("runs", "show", common, "--results-dir", str(results_root))
    assert ambiguous.code == 2 and "ambiguous" in ambiguous.stderr
    not_a_run = run_cli("runs", "show", str(tmp_path))
    assert not_a_run.code == 2 and "not a run directory" in not_a_run.stderr
    empty = run_cli("runs", "--results-dir", str(tmp_path / "nothing"))
    assert empty.code == 0 and "no runs" in empty.stderr


def test_an_unfinished_run_is_listed_as_incomplete(fast_run, tmp_path):
    root = tmp_path / "artifacts"
    root.mkdir()
    shutil.copytree(fast_run.path, root / "killed")
    (root / "killed" / "summary.json").unlink()
    (root / "killed" / "summary.txt").unlink()
    r = run_cli("runs", "--results-dir", str(root))
    assert r.code == 0 and "incomplete" in r.stdout
    shown = run_cli("runs", "show", "killed", "--results-dir", str(root))
    assert shown.code == 2 and "did not finish" in shown.stderr



def test_a_long_source_is_cut_from_the_left_at_a_folder() -> None:
    deep = "/tmp/a/b/c/d/e/f/g/clone/src/fleetload/packs/agent_storm.py"
    assert short_source(deep, 48) == "…/e/f/g/clone/src/fleetload/packs/agent_storm.py"
    assert short_source(deep, 30) == "…/packs/agent_storm.py"
    assert short_source(deep, 10) == "…_storm.py"  # narrower than the file name
    assert short_source("/short.py", 48) == "/short.py"
    one_liner = "GET http://127.0.0.1:8080/api/v1/certificates?per_page=50"
    assert short_source(one_liner, 40) == "GET …/api/v1/certificates?per_page=50"
