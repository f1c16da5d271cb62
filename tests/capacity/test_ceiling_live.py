"""The ceiling search against small servers whose capacity is known.

Steps are short (1 s warm-up + 2 s window) and every load is bounded by --to
and --max-steps.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from .conftest import SCRIPTS, Server, run_cli

WORK = str(SCRIPTS / "work.py")
SHORT = ("--step-duration", "2s", "--warmup", "1s")


def _report(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "ceiling.json").read_text())
    return data


def test_ceiling_of_a_fixed_service_rate(server_factory: Callable[..., Server],
                                         tmp_path: Path) -> None:
    # One request at a time, 5 ms each: at most ~200 req/s (asyncio timer
    # overhead makes it a little less).
    srv = server_factory("--service-ms", "5")
    out = tmp_path / "c"
    r = run_cli("ceiling", WORK, "--target", srv.url, "--slo", "p(99)<100",
                "--slo", "http_req_failed:rate<0.01", "--from", "40", "--to", "800",
                "--precision", "0.1", "--max-steps", "9", *SHORT, "--cooldown-max", "10s",
                "--out", str(out))
    assert r.code == 0, r.stderr + r.stdout
    rep = _report(out)
    assert rep["status"] == "found"
    ceiling, bad = rep["ceiling_rate"], rep["first_bad_rate"]
    assert isinstance(ceiling, float) and isinstance(bad, float)
    assert 110 <= ceiling <= 205, rep["headline"]
    assert bad / ceiling <= 1.1 + 1e-9
    assert rep["broken_slos"] == ["http_req_duration:p(99)<100"]
    assert "ceiling: " in r.stdout and "first break: " in r.stdout
    assert "broke http_req_duration:p(99)<100" in r.stdout
    steps = rep["steps"]
    assert isinstance(steps, list)
    for s in steps:
        assert s["latency_ms"]["p99"] >= s["latency_ms"]["p50"]
        assert (Path(s["run_dir"]) / "summary.json").exists()
    # the chart is one self-contained, well-formed HTML file with inline SVG
    html = (out / "ceiling.html").read_text()
    assert "<svg" in html and "<script" not in html and "http://" not in html.split("<svg", 1)[1]\
        .replace("http://www.w3.org/2000/svg", "")
    for svg in html.split("<svg")[1:]:
        ElementTree.fromstring("<svg" + svg.split("</svg>")[0] + "</svg>")


def test_cooldown_waits_for_recovery(server_factory: Callable[..., Server],
                                     tmp_path: Path) -> None:
    # After an overload the server answers /healthz 503 for 3 s, then 200 but
    # 50 ms slow for 1.5 s: the step after the overload must wait for both.
    srv = server_factory("--service-ms", "5", "--sticky-s", "3")
    out = tmp_path / "c"
    r = run_cli("ceiling", WORK, "--target", srv.url, "--slo", "p(99)<100", "--from", "100",
                "--to", "800", "--factor", "4", "--max-steps", "3", *SHORT,
                "--cooldown-max", "20s", "--out", str(out))
    assert r.code == 0, r.stderr + r.stdout
    steps = _report(out)["steps"]
    assert isinstance(steps, list) and len(steps) == 3
    assert steps[1]["rate"] == 400 and steps[1]["verdict"] == "breaks"
    cooldown = steps[2]["cooldown"]
    assert cooldown["recovered"] is True
    assert cooldown["waited_s"] >= 4.0, cooldown  # 503 for 3 s, then slow for 1.5 s
    assert cooldown["polls"] >= 3
    with urllib.request.urlopen(srv.url + "/stats", timeout=5) as resp:
        assert json.loads(resp.read())["health_503"] >= 1
    assert "cooldown" in r.stdout


def test_generator_cpu_saturation_is_not_the_targets_ceiling(
        server_factory: Callable[..., Server], tmp_path: Path) -> None:
    # Each iteration burns 25 ms of the generator's CPU: 20/s is half a core,
    # 80/s would be two cores. The target (0.2 ms per request) is never the limit.
    srv = server_factory("--service-ms", "0.2")
    out = tmp_path / "c"
    r = run_cli("ceiling", WORK, "--target", srv.url, "--slo", "p(99)<1000", "--from", "20",
                "--to", "320", "--factor", "4", "--max-steps", "3", *SHORT, "--no-cooldown",
                "-e", "BURN_MS=25", "--out", str(out))
    assert r.code == 0, r.stderr + r.stdout
    rep = _report(out)
    assert rep["status"] == "generator-bound"
    assert rep["ceiling_rate"] == 20 and rep["first_bad_rate"] is None
    assert rep["generator_bound_rate"] == 80
    assert any("generator CPU" in reason for reason in rep["generator_reasons"])  # type: ignore[attr-defined]
    assert "generator-bound at 80/s" in r.stdout and "not the target's" in r.stdout


def test_dropped_iterations_at_the_in_flight_cap_are_generator_bound(
        server_factory: Callable[..., Server], tmp_path: Path) -> None:
    # max_in_flight 1 against 2 ms requests: at 400/s most iterations find the
    # only slot busy and are dropped, while the ones sent are fast. The first
    # step (10/s: 100 ms between arrivals) drops nothing even when a busy
    # machine stretches the 2 ms answers tenfold.
    srv = server_factory("--service-ms", "2")
    out = tmp_path / "c"
    r = run_cli("ceiling", WORK, "--target", srv.url, "--slo", "p(99)<1000", "--from", "10",
                "--to", "400", "--factor", "40", "--max-steps", "2", *SHORT, "--no-cooldown",
                "-e", "CAP=1", "--out", str(out))
    assert r.code == 0, r.stderr + r.stdout
    rep = _report(out)
    assert rep["status"] == "generator-bound" and rep["generator_bound_rate"] == 400
    assert any("max_in_flight 1" in reason for reason in rep["generator_reasons"])  # type: ignore[attr-defined]
    steps = rep["steps"]
    assert isinstance(steps, list) and steps[1]["dropped"] > 0


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    for args in (("--slo", "p99<1"), ("--slo", "p(99)<1", "--observe", "bogus=1"),
                 ("--slo", "p(99)<1", "--from", "10", "--to", "5"),
                 ("--slo", "p(99)<1", "--observe", "process=")):
        r = run_cli("ceiling", WORK, "--target", "http://127.0.0.1:9", "--no-cooldown",
                    "--out", str(tmp_path / "x"), *args)
        assert r.code == 2, (args, r.stderr)
        assert "error:" in r.stderr
