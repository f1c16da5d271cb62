"""RunMetrics: merged intervals to Prometheus families (counters add up,
gauges follow the last interval, histograms bucket the HDR data)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from fleetload.metrics.histogram import Binned
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.outputs.prom_metrics import RunMetrics


def _snap(i: int, behind: float, agents: float) -> IntervalSnapshot:
    s = IntervalSnapshot(i, float(i), float(i + 1))
    s.counters[("http_reqs", (("expected_response", "true"), ("name", "list"),
                              ("scenario", "api"), ("status", "200")))] = 7
    s.counters[("http_reqs", (("error", "timeout"), ("expected_response", "false"),
                              ("name", "list"), ("scenario", "api"), ("status", "0")))] = 1
    s.counters[("dropped_iterations", (("scenario", "api"),))] = 2
    s.rates[("checks", (("check", "200"), ("scenario", "api")))] = (7, 8)
    s.gauges[("vus", (("scenario", "api"),))] = 3
    s.trends[("http_req_duration", (("name", "list"), ("scenario", "api")))] = \
        Binned.from_seconds([0.0003, 0.002, 0.002, 0.04, 0.3, 0.3, 0.3, 7.0])
    s.notes.update({"connections": 4.0, "max_behind:api": behind,
                    "status:fleet:regs_active": agents, "status:fleet:streams_open": 2.0})
    return s


def _exposition(m: RunMetrics) -> list[str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(m)  # type: ignore[arg-type]
    return [line for line in generate_latest(registry).decode().splitlines()
            if not line.startswith("#")]


def test_two_intervals() -> None:
    m = RunMetrics()
    m.run_id = "r1"
    m.add(_snap(0, 0.5, 10))
    m.add(_snap(1, 0.25, 12))
    lines = _exposition(m)
    assert 'fleetload_http_reqs_total{name="list",run_id="r1",scenario="api"} 16.0' in lines
    assert ('fleetload_http_req_failures_total{name="list",reason="timeout",run_id="r1",'
            'scenario="api"} 2.0') in lines
    assert 'fleetload_dropped_iterations_total{run_id="r1",scenario="api"} 4.0' in lines
    assert 'fleetload_checks_total{check="200",result="fail",run_id="r1",scenario="api"} 2.0' \
        in lines
    assert 'fleetload_vus{run_id="r1",scenario="api"} 3.0' in lines
    assert 'fleetload_scheduler_lag_seconds{run_id="r1",scenario="api"} 0.25' in lines
    assert 'fleetload_agents{run_id="r1",scenario="fleet",state="active"} 12.0' in lines
    assert 'fleetload_streams{run_id="r1",scenario="fleet"} 2.0' in lines
    assert 'fleetload_connections{run_id="r1"} 4.0' in lines
    buckets = {line.split('le="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
               for line in lines if line.startswith("fleetload_http_req_duration_seconds_bucket")}
    assert buckets == {"0.0005": 2, "0.001": 2, "0.0025": 6, "0.005": 6, "0.01": 6, "0.025": 6,
                       "0.05": 8, "0.1": 8, "0.25": 8, "0.5": 14, "1.0": 14, "2.5": 14,
                       "5.0": 14, "10.0": 16, "30.0": 16, "60.0": 16, "+Inf": 16}
    [total] = [line for line in lines if line.startswith("fleetload_http_req_duration_seconds_sum")]
    assert float(total.rsplit(" ", 1)[1]) == pytest.approx(2 * (0.0003 + 0.004 + 0.04 + 0.9 + 7.0))


def test_the_collector_converts_once_per_interval() -> None:
    """prometheus-client's metric families, converted once per interval and
    rendered by prometheus-client (label values escaped by it)."""
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    m = RunMetrics()
    m.run_id = 'r"1'
    m.add(_snap(0, 0.5, 10))
    first = list(m.collect())
    assert list(m.collect()) == first
    assert all(a is b for a, b in zip(m.collect(), first, strict=True))  # not rebuilt
    kinds = {fam.name: type(fam) for fam in first}
    assert kinds["fleetload_http_reqs"] is CounterMetricFamily
    assert kinds["fleetload_http_req_duration_seconds"] is HistogramMetricFamily
    m.add(_snap(1, 0.25, 12))
    assert all(a is not b for a, b in zip(m.collect(), first, strict=True))
    assert 'fleetload_http_reqs_total{name="list",run_id="r\\"1",scenario="api"} 16.0' \
        in _exposition(m)


def test_remote_write_encodes_the_collectors_samples() -> None:
    import cramjam

    from fleetload.outputs.remote_write import encode, write_request_class

    m = RunMetrics()
    m.run_id = "r1"
    m.add(_snap(0, 0.5, 10))
    reference = write_request_class()()
    for fam in m.collect():
        for s in fam.samples:
            ts = reference.timeseries.add()
            for name, value in sorted({"__name__": s.name, **s.labels}.items()):
                ts.labels.add(name=name, value=value)
            ts.samples.add(value=float(s.value), timestamp=1_700_000_000_123)
    got = write_request_class()()
    got.ParseFromString(bytes(cramjam.snappy.decompress_raw(encode(m.families(),
                                                                   1_700_000_000_123))))
    assert len(got.timeseries) == len(reference.timeseries) > 30
    assert got == reference


def test_the_prometheus_outputs_share_their_series() -> None:
    """A /metrics endpoint and remote write in one run fold each interval once."""
    from fleetload.outputs.registry import build_outputs

    endpoint, rw, _ = build_outputs(["prometheus=127.0.0.1:0",
                                     "prometheus-rw=http://127.0.0.1:9/api/v1/write",
                                     "csv=/dev/null"])
    assert endpoint.metrics is rw.metrics  # type: ignore[attr-defined]
    snap = _snap(0, 0.5, 10)
    endpoint.metrics.add(snap)  # type: ignore[attr-defined]
    rw.metrics.add(snap)  # type: ignore[attr-defined]
    assert rw.metrics.totals("http_reqs") == {("api", "list"): 8.0}  # type: ignore[attr-defined]


def test_the_endpoint_answers_an_interval_once() -> None:
    """/metrics over HTTP: scrapes within one interval that ask the same
    (Prometheus's Accept and gzip) get the same bytes, rendered once by
    prometheus-client; the next interval's scrape has its totals; each
    scrape is noted with the intervals it saw; stop() ends the server."""
    import gzip
    import urllib.error
    import urllib.request
    from pathlib import Path

    from fleetload.outputs.base import Interval, RunStart
    from fleetload.outputs.prometheus import PrometheusEndpoint

    accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    ep = PrometheusEndpoint("127.0.0.1", 0)
    renders = 0
    collect = ep.metrics.collect

    def counted() -> object:
        nonlocal renders
        renders += 1
        return collect()

    ep.metrics.collect = counted  # type: ignore[method-assign,assignment]
    ep.start(RunStart("r1", Path("."), "test", 0.0, 2.0, [], {}))

    def scrape() -> tuple[str, str]:
        req = urllib.request.Request(ep.url, headers={"Accept": accept,
                                                      "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return gzip.decompress(r.read()).decode(), r.headers["Content-Type"]

    try:
        ep.add_interval(Interval(_snap(0, 0.5, 10), None, {}, None))  # type: ignore[arg-type]
        first, content_type = scrape()
        assert scrape() == (first, content_type)
        assert renders == 1
        assert content_type.startswith("application/openmetrics-text; version=1.0.0")
        assert 'fleetload_http_reqs_total{name="list",run_id="r1",scenario="api"} 8.0' in first
        assert first.endswith("# EOF\n")
        ep.add_interval(Interval(_snap(1, 0.25, 12), None, {}, None))  # type: ignore[arg-type]
        second, _ = scrape()
        assert renders == 2
        assert 'fleetload_http_reqs_total{name="list",run_id="r1",scenario="api"} 16.0' in second
        assert ep._watch is not None
        assert [seen for _, seen in ep._watch.scrapes] == [1, 1, 2]
    finally:
        ep.stop(None)
    assert ep._thread is not None and not ep._thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        scrape()
