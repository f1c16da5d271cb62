import pytest

from fleetload.errors import ConfigError
from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.histogram import Binned
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.metrics.thresholds import (
    evaluate,
    parse_cli_threshold,
    parse_selector,
    parse_threshold,
    parse_thresholds,
)


def test_parse_expressions():
    t = parse_threshold("p(99.9) < 250")
    assert (t.agg, t.percentile, t.op, t.value, t.stat) == ("p", 99.9, "<", 250.0, "p(99.9)")
    assert parse_threshold("rate<=0.01").stat == "rate"
    assert parse_threshold("count>=1e3").value == 1000.0
    obj = parse_threshold({"threshold": "avg<10", "abortOnFail": True, "delayAbortEval": "10s"})
    assert obj.abort_on_fail and obj.delay_abort_eval == 10.0


@pytest.mark.parametrize("bad", ["p95<1", "p(95)<<1", "avg", "avg < x", "p(101)<1", "foo>1", ""])
def test_malformed_expressions_rejected(bad):
    with pytest.raises(ConfigError):
        parse_threshold(bad)


def test_selectors():
    s = parse_selector("http_req_duration{scenario:hb, status:200}")
    assert s.metric == "http_req_duration"
    assert s.tags == (("scenario", "hb"), ("status", "200"))
    assert str(s) == "http_req_duration{scenario:hb,status:200}"
    assert parse_selector("x{url:http://a/b}").tags == (("url", "http://a/b"),)
    for bad in ["9bad", "m{", "m{}", "m{a}", "m{a:1,a:2}", "m{:1}"]:
        with pytest.raises(ConfigError):
            parse_selector(bad)


def test_cli_threshold_split():
    assert parse_cli_threshold("http_req_duration{scenario:a}:p(95)<500") == (
        "http_req_duration{scenario:a}", "p(95)<500")
    with pytest.raises(ConfigError):
        parse_cli_threshold("http_req_duration")


def _agg() -> Aggregate:
    agg = Aggregate()
    snap = IntervalSnapshot(0, 0.0, 10.0)
    a = (("scenario", "a"),)
    b = (("scenario", "b"),)
    snap.trends[("http_req_duration", a)] = Binned.from_seconds([0.010] * 99 + [0.500])
    snap.trends[("http_req_duration", b)] = Binned.from_seconds([0.100] * 100)
    snap.rates[("http_req_failed", a)] = (1, 100)
    snap.rates[("http_req_failed", b)] = (0, 100)
    snap.counters[("http_reqs", a)] = 100
    snap.counters[("http_reqs", b)] = 100
    agg.apply(snap)
    return agg


def test_evaluation_with_tag_filters():
    agg = _agg()
    sets = parse_thresholds({
        "http_req_duration{scenario:a}": ["p(99)<20", "max<1000", "med<11"],
        "http_req_duration{scenario:b}": ["avg<50"],
        "http_req_failed": ["rate<0.01"],
        "http_reqs": ["count==200", "rate>10"],
        "http_req_duration{scenario:none}": ["p(95)<1"],
    })
    ev = evaluate(sets, agg)
    got = {(v.selector, v.source): v.ok for v in ev.verdicts}
    assert got[("http_req_duration{scenario:a}", "p(99)<20")] is True  # 99 of 100 at 10ms
    assert got[("http_req_duration{scenario:a}", "max<1000")] is True
    assert got[("http_req_duration{scenario:b}", "avg<50")] is False
    assert got[("http_req_failed", "rate<0.01")] is True  # 1/200 = 0.005
    assert got[("http_reqs", "count==200")] is True
    assert got[("http_reqs", "rate>10")] is True  # 200 over 10 s
    none = next(v for v in ev.verdicts if v.selector == "http_req_duration{scenario:none}")
    assert none.ok is False and none.reason == "no samples"
    assert not ev.ok
