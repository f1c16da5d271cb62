"""k6 threshold grammar: ``<agg> <op> <number>`` on ``metric{tag:value,...}``.

Aggregations: ``avg min max med count rate value p(N)`` (N may be fractional);
operators ``< <= > >= == !=``. A threshold may be a string or an object
``{"threshold": "p(95)<500", "abort_on_fail": true, "delay_abort_eval": "10s"}``
(k6's camelCase keys are accepted too).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetload.durations import parse_duration
from fleetload.errors import ConfigError
from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.kinds import Kind, Tags, series_name

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt,
}
_EXPR = re.compile(
    r"^\s*(?P<agg>avg|min|max|med|count|rate|value|p\(\s*(?P<p>\d+(?:\.\d+)?)\s*\))\s*"
    r"(?P<op><=|>=|==|!=|<|>)\s*(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")

# Which aggregations make sense for which metric kind (as k6 enforces).
_ALLOWED: dict[Kind, frozenset[str]] = {
    Kind.TREND: frozenset({"avg", "min", "max", "med", "p", "count"}),
    Kind.COUNTER: frozenset({"count", "rate"}),
    Kind.RATE: frozenset({"rate"}),
    Kind.GAUGE: frozenset({"value", "min", "max"}),
}


@dataclass(frozen=True, slots=True)
class Selector:
    metric: str
    tags: Tags = ()

    def __str__(self) -> str:
        return series_name(self.metric, self.tags)


def parse_selector(text: str) -> Selector:
    """``http_req_duration{scenario:heartbeat,status:200}`` -> Selector."""
    raw = text.strip()
    name, brace, rest = raw.partition("{")
    name = name.strip()
    if not _NAME.match(name):
        raise ConfigError(f"invalid metric name {name!r} in {text!r}")
    if not brace:
        return Selector(name)
    if not rest.endswith("}"):
        raise ConfigError(f"invalid tag filter in {text!r}: missing closing '}}'")
    body = rest[:-1].strip()
    if not body:
        raise ConfigError(f"invalid tag filter in {text!r}: empty braces")
    tags: dict[str, str] = {}
    for part in body.split(","):
        key, colon, value = part.partition(":")
        key, value = key.strip(), value.strip()
        if not colon or not key or not value:
            raise ConfigError(f"invalid tag filter {part.strip()!r} in {text!r}: expected tag:value")
        if key in tags:
            raise ConfigError(f"tag {key!r} given twice in {text!r}")
        tags[key] = value
    return Selector(name, tuple(sorted(tags.items())))


@dataclass(frozen=True, slots=True)
class Threshold:
    source: str
    agg: str  # "avg", "p", "rate", ...
    percentile: float | None
    op: str
    value: float
    abort_on_fail: bool = False
    delay_abort_eval: float = 0.0

    @property
    def stat(self) -> str:
        """The summary value this threshold reads (``p(95)``, ``avg``...)."""
        if self.agg == "p":
            p = self.percentile or 0.0
            return f"p({int(p) if p.is_integer() else p})"
        return self.agg

    def holds(self, observed: float) -> bool:
        return _OPS[self.op](observed, self.value)


def parse_threshold(spec: str | Mapping[str, Any], *, where: str = "") -> Threshold:
    abort, delay = False, 0.0
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"threshold", "abort_on_fail", "abortOnFail",
                               "delay_abort_eval", "delayAbortEval"}
        if unknown:
            raise ConfigError(f"unknown threshold option(s) {sorted(unknown)}", where=where or None)
        if "threshold" not in spec:
            raise ConfigError("threshold object needs a 'threshold' expression", where=where or None)
        expr = spec["threshold"]
        abort = bool(spec.get("abort_on_fail", spec.get("abortOnFail", False)))
        delay = parse_duration(spec.get("delay_abort_eval", spec.get("delayAbortEval", 0)),
                               what="delay_abort_eval")
    else:
        expr = spec
    if not isinstance(expr, str):
        raise ConfigError(f"threshold must be a string like 'p(95)<500', got {expr!r}",
                          where=where or None)
    m = _EXPR.match(expr)
    if not m:
        raise ConfigError(
            f"malformed threshold {expr!r}: expected '<agg> <op> <number>' with agg in "
            "avg, min, max, med, count, rate, value, p(N) and op in < <= > >= == !=",
            where=where or None)
    agg = m.group("agg")
    pct: float | None = None
    if agg.startswith("p("):
        pct = float(m.group("p"))
        if not 0 <= pct <= 100:
            raise ConfigError(f"percentile out of range in {expr!r}", where=where or None)
        agg = "p"
    return Threshold(expr.strip(), agg, pct, m.group("op"), float(m.group("num")), abort, delay)


@dataclass(slots=True)
class ThresholdSet:
    selector: Selector
    thresholds: list[Threshold]

    @property
    def key(self) -> str:
        return str(self.selector)


def parse_thresholds(mapping: Mapping[str, Any]) -> list[ThresholdSet]:
    if not isinstance(mapping, Mapping):
        raise ConfigError("thresholds must be a mapping of metric selector -> list of expressions")
    out: list[ThresholdSet] = []
    for key, specs in mapping.items():
        selector = parse_selector(str(key))
        if isinstance(specs, str | Mapping):
            specs = [specs]
        if not isinstance(specs, Sequence) or not specs:
            raise ConfigError(f"thresholds for {key!r} must be a non-empty list")
        out.append(ThresholdSet(selector, [parse_threshold(s, where=f"threshold {key}")
                                           for s in specs]))
    return out


def parse_cli_threshold(text: str) -> tuple[str, str]:
    """``'http_req_duration{scenario:x}:p(95)<500'`` -> (selector, expression)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ":" and depth == 0:
            sel, expr = text[:i], text[i + 1:]
            parse_selector(sel)
            parse_threshold(expr, where=f"--threshold {text}")
            return sel.strip(), expr.strip()
    raise ConfigError(f"--threshold {text!r}: expected METRIC[{{tag:value}}]:EXPRESSION, "
                      "e.g. 'http_req_duration:p(95)<500'")


def validate_against(sets: Sequence[ThresholdSet], known: Callable[[str], Kind | None]) -> None:
    """Reject thresholds on unknown metrics or with an aggregation the kind lacks."""
    for ts in sets:
        kind = known(ts.selector.metric)
        if kind is None:
            raise ConfigError(f"threshold on unknown metric {ts.selector.metric!r}; "
                              "declare custom metrics at the top of the script")
        for t in ts.thresholds:
            if t.agg not in _ALLOWED[kind]:
                raise ConfigError(f"threshold {t.source!r} on {ts.key}: {kind.value} metrics "
                                  f"support {', '.join(sorted(_ALLOWED[kind]))}")


@dataclass(slots=True)
class Verdict:
    selector: str
    source: str
    ok: bool
    observed: float | None
    abort_on_fail: bool = False
    reason: str = ""


@dataclass(slots=True)
class Evaluation:
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.ok]


def evaluate(sets: Sequence[ThresholdSet], agg: Aggregate, *,
             elapsed: float | None = None, only_abortable: bool = False) -> Evaluation:
    """Evaluate every threshold on the run's totals.

    A selector without a single sample fails: a threshold that saw nothing has
    not been met. During a run (``only_abortable``), thresholds whose abort
    delay has not passed are skipped.
    """
    result = Evaluation()
    for ts in sets:
        extra = tuple(t.percentile for t in ts.thresholds
                      if t.percentile is not None and t.percentile not in (50.0, 90.0, 95.0, 99.0))
        values = agg.values(ts.selector.metric, ts.selector.tags, percentiles=extra)
        for t in ts.thresholds:
            if only_abortable and (not t.abort_on_fail or (elapsed or 0.0) < t.delay_abort_eval):
                continue
            if values is None or (t.stat not in values and not (t.stat == "count" and "count" in values)):
                result.verdicts.append(Verdict(ts.key, t.source, False, None, t.abort_on_fail,
                                               "no samples"))
                continue
            if t.agg != "count" and values.get("count", 1) == 0 and "avg" in values:
                result.verdicts.append(Verdict(ts.key, t.source, False, None, t.abort_on_fail,
                                               "no samples"))
                continue
            observed = values[t.stat]
            result.verdicts.append(Verdict(ts.key, t.source, t.holds(observed), observed,
                                           t.abort_on_fail))
    return result
