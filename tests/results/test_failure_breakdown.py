"""Every failure has a reason: the failure breakdown per scenario, against a
real rate-limiting target and against a port where nothing listens."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from pathlib import Path

from fleetplane.launch import start_target
from tests.conftest import run_cli

TOKEN = "fleetload-dev-key"


def _target_rate_limited(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^fleetplane_http_rate_limited_total (\S+)$", text, re.M)
    assert m, text[:500]
    return float(m.group(1))


def test_429s_are_counted_by_reason_with_snippets_and_retry_after(tmp_path: Path) -> None:
    # 100 requests/s against a target limited to 20/s (burst 20): most get 429.
    with start_target(rate_limit=20) as t:
        out = tmp_path / "run"
        r = run_cli("run", "--url", f"{t.url}/api/v1/certificates?per_page=1", "--rate", "100",
                    "--duration", "2s", "--token", TOKEN, "--out", str(out), "--stats-interval",
                    "1s", "--report", "--allow-inconclusive")  # about reasons, not schedule keeping
        assert r.code == 0, r.stderr
        refused = _target_rate_limited(f"{t.url}/metrics")
    summary = json.loads((out / "summary.json").read_text())
    f = summary["scenarios"]["default"]["failures"]
    assert f["requests"] == 200
    top = f["reasons"][0]
    assert top["reason"] == "429 Too Many Requests"
    assert top["status"] == 429 and top["error"] is None
    # the target's own count of refusals equals ours
    assert top["count"] == refused
    assert f["requests_failed"] == refused
    assert top["share"] == 1.0
    assert abs(top["rate"] - refused / 200) < 1e-9
    assert top["retry_after"] is not None and float(top["retry_after"]) >= 0
    assert top["samples"] and "rate limit exceeded" in top["samples"][0]
    assert f["rate_limited"]["count"] == refused
    line = (f"the target is rate limiting: {refused:,.0f} of {refused:,.0f} failed requests were "
            f"429 Too Many Requests (Retry-After: {top['retry_after']})")
    text = (out / "summary.txt").read_text()
    assert line in text
    assert "failures default" in text
    report = (out / "report.html").read_text()
    assert "<h2>Failures</h2>" in report and "429 Too Many Requests" in report
    assert "the target is rate limiting" in report
    # the live line names the top reason
    assert "(top: 429 Too Many Requests" in r.stderr


def test_error_classes_are_counted_when_nothing_answers(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nothing listening: every connect is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    r = run_cli("run", "--url", f"http://127.0.0.1:{port}/", "--vus", "2", "--duration", "1s",
                "--no-preflight", "--out", str(out), "--quiet")
    assert r.code == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    f = summary["scenarios"]["default"]["failures"]
    reqs = summary["metrics"]["http_reqs"]["values"]["count"]
    assert reqs > 0
    assert f["requests_failed"] == reqs
    assert [x["reason"] for x in f["reasons"]] == ["connection_refused"]
    assert f["reasons"][0]["count"] == reqs and f["reasons"][0]["status"] is None
    assert any("refused" in s.lower() for s in f["reasons"][0]["samples"])
    assert f"{reqs:,.0f} of {reqs:,.0f} requests failed:" in (out / "summary.txt").read_text()


def test_iteration_errors_are_listed_per_scenario(stub, tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text(
        "from fleetload import scenario, ConstantVUs\n"
        "@scenario(ConstantVUs(vus=1, duration='1s'))\n"
        "async def boom(vu):\n"
        "    await vu.http.get(vu.env['URL'] + '/ok')\n"
        "    raise RuntimeError('no such agent: ag-7')\n")
    out = tmp_path / "run"
    r = run_cli("run", str(script), "-e", f"URL={stub.url}", "--out", str(out), "--quiet")
    assert r.code == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    errors = summary["scenarios"]["boom"]["failures"]["iteration_errors"]
    raised = summary["metrics"]["iteration_errors"]["values"]["count"]
    assert errors == [{"error": "RuntimeError: no such agent: ag-7", "count": raised}]
    assert summary["errors"][0]["scenario"] == "boom"
    assert f"{raised:>9,.0f}  iterations raised RuntimeError: no such agent: ag-7" in (
        out / "summary.txt").read_text()
