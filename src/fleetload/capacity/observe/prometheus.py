"""``--observe prometheus=URL[#name,...]``: scrape a Prometheus text endpoint.

Reduction, so one sample stays a small flat ``{name: number}`` dict:

* gauges and untyped samples are kept as they are;
* counters keep their total and gain ``<series>:rate`` (per second since the
  previous scrape) — a total alone says little on a one-second time axis;
* histograms and summaries drop their buckets/quantiles (tens of series each,
  and cumulative since the process started) and keep, per label set and summed
  over all label sets, ``:rate`` (observations per second) and ``:avg`` (mean of
  the observations made between the two scrapes, in the metric's unit);
* at most ``max_series`` values are kept, aggregates and gauges first; how many
  were cut is reported as ``prometheus_series_dropped``.
"""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from fleetload.errors import ConfigError
from fleetload.protocols.http.client import HttpClient
from fleetload.protocols.http.options import ClientOptions, new_client
from fleetload.redact import redact_url

DEFAULT_MAX_SERIES = 300
_SKIP_SUFFIXES = ("_created",)  # creation timestamps: not a measurement


def series_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"


def reduce_families(text: str, wanted: frozenset[str] | None) -> tuple[
        dict[str, float], dict[str, float], dict[str, tuple[float, float]]]:
    """Split one scrape into gauges, counter totals and histogram (count, sum) pairs.

    ``wanted`` filters by family name (with or without ``_total``/``_seconds``
    suffix spelled as exposed); None keeps everything.
    """
    gauges: dict[str, float] = {}
    counters: dict[str, float] = {}
    hists: dict[str, tuple[float, float]] = {}
    for fam in text_string_to_metric_families(text):
        if wanted is not None and fam.name not in wanted and fam.name + "_total" not in wanted:
            continue
        if fam.type in ("histogram", "summary", "gaugehistogram"):
            per: dict[str, list[float]] = {}
            for s in fam.samples:
                if s.name.endswith(("_count", "_gcount")):
                    per.setdefault(series_key(fam.name, dict(s.labels)), [0.0, 0.0])[0] = s.value
                elif s.name.endswith(("_sum", "_gsum")):
                    per.setdefault(series_key(fam.name, dict(s.labels)), [0.0, 0.0])[1] = s.value
            total_c = sum(v[0] for v in per.values())
            total_s = sum(v[1] for v in per.values())
            hists[fam.name] = (total_c, total_s)
            for key, (c, sm) in per.items():
                if key != fam.name:
                    hists[key] = (c, sm)
        elif fam.type == "counter":
            for s in fam.samples:
                if s.name.endswith(_SKIP_SUFFIXES):
                    continue
                counters[series_key(s.name, dict(s.labels))] = s.value
        else:
            for s in fam.samples:
                if s.name.endswith(_SKIP_SUFFIXES):
                    continue
                gauges[series_key(s.name, dict(s.labels))] = s.value
    return gauges, counters, hists


class PrometheusObserver:
    def __init__(self, url: str, metrics: tuple[str, ...] = (), *,
                 max_series: int = DEFAULT_MAX_SERIES, insecure: bool = False,
                 ca_file: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--observe prometheus={redact_url(url)}: expected an http(s):// URL")
        self.url = url
        self.source = f"prometheus:{redact_url(url)}"
        self.wanted = frozenset(metrics) if metrics else None
        self.max_series = max_series
        self._client: HttpClient = new_client(ClientOptions(insecure=insecure, ca_file=ca_file,
                                                             timeout=5.0, read_timeout=5.0))
        self._prev: tuple[float, dict[str, float], dict[str, tuple[float, float]]] | None = None

    async def sample(self) -> dict[str, float]:
        resp = await self._client.request("GET", self.url, timeout=2.0)
        if resp.error is not None or resp.status != 200:
            raise RuntimeError(f"GET {redact_url(self.url)}: {resp.error or resp.status}")
        now = time.perf_counter()
        gauges, counters, hists = reduce_families(resp.text, self.wanted)
        first: dict[str, float] = {}  # aggregates and gauges: kept before anything else
        rest: dict[str, float] = {}
        first.update(gauges)
        prev = self._prev
        dt = now - prev[0] if prev else 0.0
        for key, value in counters.items():
            rest[key] = value
            if prev and dt > 0 and key in prev[1]:
                first[key + ":rate"] = max(value - prev[1][key], 0.0) / dt
        for key, (count, total) in hists.items():
            if not prev or dt <= 0 or key not in prev[2]:
                continue
            dc = count - prev[2][key][0]
            ds = total - prev[2][key][1]
            bucket = first if "{" not in key else rest
            bucket[key + ":rate"] = max(dc, 0.0) / dt
            if dc > 0:
                bucket[key + ":avg"] = ds / dc
        self._prev = (now, counters, hists)
        out: dict[str, float] = {}
        dropped = 0
        for key, value in [*first.items(), *rest.items()]:
            if len(out) < self.max_series:
                out[key] = value
            else:
                dropped += 1
        if dropped:
            out["prometheus_series_dropped"] = float(dropped)
        return out

    async def close(self) -> None:
        await self._client.close()
