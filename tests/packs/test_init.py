"""``fleetload init``: a pack becomes the user's own script."""

from __future__ import annotations

from pathlib import Path

from fleetload.packs import available, pack_path
from fleetplane.launch import RunningTarget
from tests.conftest import run_cli

from .conftest import SEED_AGENTS, run_pack

MINE = ("api-tier", "bulk-renewal", "agent-storm", "acme-burst", "connector-tier")


def test_init_writes_a_runnable_copy(seeded_target: RunningTarget, tmp_path: Path) -> None:
    r = run_cli("init", "agent-storm", cwd=tmp_path)
    assert r.code == 0, r.stderr
    copy = tmp_path / "agent_storm.py"
    original = pack_path("agent-storm")
    assert original is not None
    assert copy.read_text() == original.read_text()
    again = run_cli("init", "agent-storm", cwd=tmp_path)
    assert again.code == 2 and "already exists" in again.stderr and "--force" in again.stderr
    copy.write_text(copy.read_text() + "\n# edited\n")
    forced = run_cli("init", "agent-storm", "--force", cwd=tmp_path)
    assert forced.code == 0 and copy.read_text() == original.read_text()
    run = run_pack(str(copy), seeded_target, tmp_path / "run", "--duration", "1s",
                   "--agents", str(SEED_AGENTS), "--heartbeat-interval", "10s", cwd=tmp_path)
    assert run.code == 0, run.result.stderr
    assert run.count("iterations{scenario:heartbeat}") == 20


def test_init_list_and_unknown(tmp_path: Path) -> None:
    r = run_cli("init", "--list", cwd=tmp_path)
    assert r.code == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip()}
    for pack in MINE:
        assert pack in lines and len(lines[pack].split(None, 1)[1]) > 20
    assert set(lines) == set(available())
    assert "heartbeating" in lines["agent-storm"]
    bad = run_cli("init", "no-such-pack", cwd=tmp_path)
    assert bad.code == 2 and "agent-storm" in bad.stderr
    assert not list(tmp_path.glob("*.py"))
