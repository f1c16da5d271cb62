"""The generator's own share of the corrected latency: every open-loop scenario
states its iteration lag p99 beside its http_req_latency p99; a run whose
latency is mostly that lag warns, and beyond a stricter bound is INCONCLUSIVE."""

from __future__ import annotations

import html as htmllib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetload.results.validity import ValidityRules, assess, generator_share
from tests.conftest import run_cli
from tests.support.nginx import nginx_server

# The "stall" scenario blocks the event loop (no request of its own) once a
# second; the "api" scenario's arrivals that fall in a stall start late, so
# its corrected latency is mostly fleetload's lag while nginx answers at once.
STALL_SCRIPT = """
import time
from fleetload import ConstantArrivalRate, scenario

options = {{"target": "{url}"}}


@scenario(ConstantArrivalRate(rate={stall_rate}, duration="3s", max_in_flight=10))
async def stall(vu):
    time.sleep({stall_s})


@scenario(ConstantArrivalRate(rate=100, duration="3s", max_in_flight=400))
async def api(vu):
    await vu.http.get("/")
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nginx_server(tmp_path_factory.mktemp("nginx-lag"),
                      'location / { return 200 "ok"; }') as url:
        yield url


def _run(tmp_path: Path, nginx: str, stall_s: float, stall_rate: float,
         *args: str) -> tuple[int, str, dict, str, str]:
    script = tmp_path / "stall.py"
    script.write_text(STALL_SCRIPT.format(url=nginx, stall_s=stall_s, stall_rate=stall_rate))
    out = tmp_path / "run"
    r = run_cli("run", str(script), "--out", str(out), "--report", *args, timeout=120)
    summary = json.loads((out / "summary.json").read_text())
    text = (out / "summary.txt").read_text()
    page = htmllib.unescape((out / "report.html").read_text())
    assert r.stdout.startswith(text)
    return r.code, r.stdout + r.stderr, summary, text, page


def _share(summary: dict, name: str = "api") -> dict:
    sc = summary["scenarios"][name]
    share = sc["schedule"]["generator_lag"]
    lag = sc["schedule"]["iteration_lag"]["p99"]
    lat = sc["http_req_latency"]["p99"]
    assert share["lag_p99_ms"] == lag and share["latency_p99_ms"] == lat
    assert share["share"] == pytest.approx(min(lag / lat, 1.0), abs=1e-4)
    return share


def test_lag_dominated_latency_past_the_strict_bound_is_inconclusive(nginx: str,
                                                                     tmp_path: Path) -> None:
    # --max-lag 400ms: lag p99 (~0.3 s) stays under the lag bound, so the only
    # reason is the share: >= 90 % of the latency and >= 200 ms (half the bound).
    code, output, s, text, page = _run(tmp_path, nginx, 0.3, 1, "--max-lag", "400ms")
    assert code == 3, output
    share = _share(s)
    assert 200 <= share["lag_p99_ms"] < 400 and share["share"] >= 0.9
    reason = (f"scenario api: {share['text']}, at or above the 90% and 200 ms bound: the "
              "corrected latency measures the generator, not the target")
    assert share["text"].startswith(f"http_req_latency p99 {share['latency_p99_ms']:,.1f} ms, "
                                    f"of which up to {share['lag_p99_ms']:,.1f} ms (")
    assert share["text"].endswith("%) is fleetload's own scheduling lag (iteration_lag p99)")
    validity = s["run"]["validity"]
    assert validity["reasons"] == [reason], validity
    assert s["run"]["verdict"] == "inconclusive"
    assert validity["rules"]["lag_share_bound_pct"] == 90
    assert validity["rules"]["lag_share_floor_ms"] == 200
    assert f"  - {reason}" in text and "verdict: INCONCLUSIVE (exit 3)" in text
    assert f"  latency api: {share['text']}" in text
    assert "Run not valid" in page and f"<li>{reason}</li>" in page
    assert f"<li>api: {share['text']}</li>" in page
    # The stall scenario sends no request: no latency to share.
    assert s["scenarios"]["stall"]["schedule"]["generator_lag"] is None


def test_lag_dominated_latency_below_the_strict_bound_is_a_warning(nginx: str,
                                                                   tmp_path: Path) -> None:
    # 60 ms stalls: lag p99 well above 2 ms and most of the latency (nginx
    # answers within a few ms even on a busy machine), far below half of
    # --max-lag 1s: a warning, and the run passes.
    code, output, s, text, page = _run(tmp_path, nginx, 0.06, 5, "--max-lag", "1s")
    assert code == 0, output
    share = _share(s)
    assert share["lag_p99_ms"] >= 2 and share["share"] >= 0.5
    warning = (f"scenario api: {share['text']}, at or above the 50% and 2 ms mark: the "
               "corrected latency is mostly the generator's")
    validity = s["run"]["validity"]
    assert validity["valid"] is True and warning in validity["warnings"]
    assert f"warning: {warning}" in text and "verdict: PASSED (exit 0)" in text
    assert f"<li>{warning}</li>" in page and "Run not valid" not in page


def test_a_modest_rate_against_nginx_states_the_share_without_a_reason(nginx: str,
                                                                       tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(STALL_SCRIPT.format(url=nginx, stall_s=0, stall_rate=1))
    out = tmp_path / "run"
    r = run_cli("run", str(script), "--out", str(out), "--report", "--quiet",
                "--allow-inconclusive", timeout=120)
    assert r.code == 0, r.stdout + r.stderr
    s = json.loads((out / "summary.json").read_text())
    share = _share(s)
    validity = s["run"]["validity"]
    assert not any("scheduling lag" in reason for reason in validity["reasons"]), validity
    assert f"  latency api: {share['text']}" in (out / "summary.txt").read_text()
    assert f"<li>api: {share['text']}</li>" in htmllib.unescape((out / "report.html").read_text())


def _open_loop(lag: float, latency: float | None, started: int = 500) -> dict:
    return {"scenarios": {"s": {
        "iterations": started, "interrupted_iterations": 0,
        "http_req_latency": {"p99": latency} if latency is not None else None,
        "schedule": {"scheduled_iterations": started, "dropped_iterations": 0,
                     "iteration_lag": {"p99": lag},
                     "generator_lag": generator_share(lag, latency)}}}}


def test_share_bounds() -> None:
    rules = ValidityRules()
    # a slow target: the lag is a sliver of the latency
    v = assess(_open_loop(4.0, 120.0), [], rules)
    assert v["valid"] and v["warnings"] == []
    # a fast target, lag small in absolute terms: nothing to say
    v = assess(_open_loop(1.5, 1.8), [], rules)
    assert v["valid"] and v["warnings"] == []
    # >= 50 % and >= 2 ms: a warning
    v = assess(_open_loop(2.5, 4.0), [], rules)
    assert v["valid"] and len(v["warnings"]) == 1
    assert v["warnings"][0].startswith("scenario s: http_req_latency p99 4.0 ms, of which up to "
                                       "2.5 ms (62%) is fleetload's own scheduling lag")
    # >= 90 % but under the strict floor (10 ms at the default --max-lag, where
    # healthy runs on a busy machine sit): still a warning
    v = assess(_open_loop(9.5, 9.8), [], rules)
    assert v["valid"] and len(v["warnings"]) == 1
    # a looser --max-lag (50 ms): >= 90 % and >= 25 ms is inconclusive
    loose = ValidityRules(lag_bound=0.05)
    v = assess(_open_loop(30.0, 31.0), [], loose)
    assert v["valid"] is False and v["reasons"] == [
        "scenario s: http_req_latency p99 31.0 ms, of which up to 30.0 ms (97%) is fleetload's "
        "own scheduling lag (iteration_lag p99), at or above the 90% and 25 ms bound: the "
        "corrected latency measures the generator, not the target"]
    assert assess(_open_loop(20.0, 21.0), [], loose)["valid"] is True
    # a slow target with the same lag: not the generator's latency
    assert assess(_open_loop(30.0, 300.0), [], loose)["warnings"] == []
    # above --max-lag: the lag reason alone, not twice
    v = assess(_open_loop(12.0, 12.5), [], rules)
    assert len(v["reasons"]) == 1 and "above the 10 ms bound" in v["reasons"][0]
    # too few starts to judge, or no request at all
    assert assess(_open_loop(6.0, 6.4, started=50), [], rules)["warnings"] == []
    assert assess(_open_loop(6.0, None), [], rules) == assess(_open_loop(1.0, None), [], rules)
    assert ValidityRules().to_json()["lag_share_floor_ms"] == 10
