"""``baseline publish``: the table between markers, the rest byte for byte."""

from __future__ import annotations

import pytest

from fleetload.baseline.data import load_run
from fleetload.baseline.publish import publish
from fleetload.errors import FleetloadError
from tests.conftest import run_cli

BEFORE = "# Scale\r\n\r\nMeasured numbers:\r\n\r\n<!-- fleetload:baseline main -->\r\n"
STALE = "| old | table |\r\n"
AFTER = "<!-- /fleetload:baseline -->\r\n\r\nSee also *caveats* — ünïcödé  \r\ntrailing text"


def recorded(fast_run, store):
    r = run_cli("baseline", "record", str(fast_run.path), "--name", "main", "--store", str(store))
    assert r.code == 0, r.stderr
    return store / "main"


def test_publish_rewrites_only_between_markers_and_is_idempotent(fast_run, store, tmp_path):
    recorded(fast_run, store)
    doc = tmp_path / "scale.md"
    before, after = BEFORE.encode(), AFTER.encode()  # CRLF, no final newline
    doc.write_bytes(before + STALE.encode() + after)
    r = run_cli("baseline", "publish", "main", "--doc", str(doc), "--store", str(store))
    assert r.code == 0 and "updated" in r.stdout, r.stderr
    first = doc.read_bytes()
    assert first.startswith(before) and first.endswith(after)
    block = first[len(before): len(first) - len(after)]
    assert b"old | table" not in block
    assert b"\n" not in block.replace(b"\r\n", b"")  # the block follows the document's CRLF
    text = block.decode()
    assert "| api |" in text and "| browse |" in text and "p95" in text
    assert "Measured 20" in text and "cores" in text and "commit" in text
    mtime = doc.stat().st_mtime_ns
    again = run_cli("baseline", "publish", "main", "--doc", str(doc), "--store", str(store))
    assert again.code == 0 and "unchanged" in again.stdout
    assert doc.read_bytes() == first and doc.stat().st_mtime_ns == mtime


def test_publish_lf_document_with_two_baselines(fast_run, slow_run, store):
    recorded(fast_run, store)
    run = load_run(store / "main")
    doc = (b"intro\n<!-- fleetload:baseline other -->\nkeep me\n<!-- /fleetload:baseline -->\n"
           b"<!-- fleetload:baseline main --><!-- /fleetload:baseline -->\nend\n")
    out = publish(doc, "main", run)
    assert out.startswith(b"intro\n<!-- fleetload:baseline other -->\nkeep me\n"
                          b"<!-- /fleetload:baseline -->\n<!-- fleetload:baseline main -->\n| scenario")
    assert out.endswith(b"\n<!-- /fleetload:baseline -->\nend\n") and b"\r" not in out
    assert publish(out, "main", run) == out
    with pytest.raises(FleetloadError, match="no closing"):
        publish(b"<!-- fleetload:baseline main -->\n", "main", run)


def test_publish_without_markers_is_exit_2(fast_run, store, tmp_path):
    recorded(fast_run, store)
    doc = tmp_path / "scale.md"
    doc.write_bytes(b"# nothing here\n")
    r = run_cli("baseline", "publish", "main", "--doc", str(doc), "--store", str(store))
    assert r.code == 2 and "no marker <!-- fleetload:baseline main -->" in r.stderr
    assert doc.read_bytes() == b"# nothing here\n"
    missing = run_cli("baseline", "publish", "nope", "--doc", str(doc), "--store", str(store))
    assert missing.code == 2 and "no baseline 'nope'" in missing.stderr
