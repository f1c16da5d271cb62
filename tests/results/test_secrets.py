"""Secrets given on the command line never reach a file fleetload writes."""

from __future__ import annotations

from tests.conftest import run_cli

SECRETS = ("S3CRET-TOKEN", "S3CRET-HDR", "S3CRET-ENV", "S3CRET-PW")


def found(data: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in data]


def test_secrets_never_written(shared_stub, tmp_path):
    port = shared_stub.url.rsplit(":", 1)[1]
    run_dir, store = tmp_path / "run", tmp_path / "loadtest-baselines"
    r = run_cli("run", "--url", f"http://user:S3CRET-PW@127.0.0.1:{port}/ok",
                "--token", "S3CRET-TOKEN", "-H", "Authorization: Bearer S3CRET-HDR",
                "--rate", "20", "--duration", "2s",
                "--out", str(run_dir), "--quiet", "--report", "--junit", str(tmp_path / "j.xml"),
                "--allow-inconclusive")  # about secrets, not schedule keeping
    assert r.code == 0, r.stderr
    assert run_cli("baseline", "record", str(run_dir), "--name", "sec",
                   "--store", str(store)).code == 0
    doc = tmp_path / "scale.md"
    doc.write_text("<!-- fleetload:baseline sec -->\n<!-- /fleetload:baseline -->\n")
    assert run_cli("baseline", "publish", "sec", "--doc", str(doc), "--store", str(store)).code == 0
    c = run_cli("compare", str(run_dir), "--baseline", "sec", "--store", str(store),
                "--json", str(tmp_path / "c.json"), "--junit", str(tmp_path / "c.xml"))
    assert c.code == 0, c.stderr

    files = [p for p in tmp_path.rglob("*") if p.is_file() and "chromium" not in p.parts]
    assert {"report.html", "meta.json", "summary.json", "summary.txt", "intervals.hlog",
            "timeline.jsonl", "baseline.json", "scale.md", "c.json", "c.xml", "j.xml"} \
        <= {p.name for p in files}
    leaks = {str(p.relative_to(tmp_path)): found(p.read_bytes()) for p in files}
    assert {k: v for k, v in leaks.items() if v} == {}
    # ...nor on the terminal.
    assert not found((r.stdout + r.stderr).encode())
