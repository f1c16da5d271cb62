"""The one place HTTP requests become metric series.

Every recorded request (``vu.http``, fleet agents, ACME, anything above the
HTTP client) goes through a scenario's :class:`HttpSeries`: it decides the
request's ``name`` tag (the URL's path with ID-like segments collapsed), what
counts as failed (:func:`is_expected`), the tags of its series, and keeps one
:class:`~fleetload.metrics.collector.HttpRecorder` per series, so recording a
request is a dictionary lookup and two list appends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from fleetload.metrics.collector import Collector, HttpRecorder
from fleetload.metrics.kinds import Tags, make_tags

_ID_SEGMENT = re.compile(r"^(?!v\d+$).*\d")
# Per-URL caches (names, recorders) are emptied past this many URLs: above the
# agent-storm pack's 5,000 agent URLs, so a fleet round-robin stays cached.
URL_CACHE_LIMIT = 16_384


def default_name(url: str) -> str:
    """The ``name`` tag of a request when the script gives none: its path without
    the query, with ID-like segments (any segment holding a digit, except version
    segments such as ``v1``) replaced by ``{id}``, so a URL per agent does not
    make a metric series per agent."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return "/".join("{id}" if seg and _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))


def is_expected(status: int, error: str | None,
                expected_statuses: Collection[int] | None = None) -> bool:
    """Whether a response counts as a success: no transport error, and a status
    in ``expected_statuses`` when given, else 200-399 (k6's default)."""
    if error is not None:
        return False
    return status in expected_statuses if expected_statuses else 200 <= status < 400


class HttpSeries:
    """One scenario's HTTP series in one worker."""

    __slots__ = ("by_key", "by_url", "collector", "names", "on_failure", "scenario", "tags")

    def __init__(self, collector: Collector, scenario: str, tags: Tags,
                 on_failure: Callable[[Any], None] | None = None) -> None:
        self.collector = collector
        self.scenario = scenario
        self.tags = tags
        self.on_failure = on_failure
        self.by_key: dict[tuple[Any, ...], HttpRecorder] = {}
        # (display URL, method, status, error) -> recorder: a shortcut for
        # requests without name/tags options (several URLs may share one).
        self.by_url: dict[tuple[Any, ...], HttpRecorder] = {}
        self.names: dict[str, str] = {}

    def name_of(self, url: str) -> str:
        name = self.names.get(url)
        if name is None:
            if len(self.names) > URL_CACHE_LIMIT:
                self.names.clear()
            name = self.names[url] = default_name(url)
        return name

    def recorder(self, resp: Any, name: str | None = None,
                 tags: Mapping[str, str] | None = None,
                 expected_statuses: Collection[int] | None = None) -> HttpRecorder:
        """The recorder of ``resp``'s series (a failed response's snippet is
        kept too, see :mod:`fleetload.metrics.failure_samples`)."""
        method = resp.method
        if name is None:
            name = self.name_of(resp.url)
        status = resp.status
        err = resp.error
        if tags is None and expected_statuses is None:
            key: tuple[Any, ...] = (name, method, status, err)
        else:
            key = (name, method, status, err, tuple(tags.items()) if tags else None,
                   tuple(expected_statuses) if expected_statuses else None)
        rec = self.by_key.get(key)
        if rec is None:
            rec = self.by_key[key] = self._new(key, name, method, status, err,
                                               is_expected(status, err, expected_statuses), tags)
        if not rec.expected and self.on_failure is not None:
            self.on_failure(resp)
        return rec

    def recorder_by_url(self, resp: Any) -> HttpRecorder:
        """The recorder of a request without name/tags options, cached by its URL
        and outcome: the common case, once per request."""
        key = (resp.url, resp.method, resp.status, resp.error)
        rec = self.by_url.get(key)
        if rec is None:
            rec = self.recorder(resp)
            if len(self.by_url) > URL_CACHE_LIMIT:
                self.by_url.clear()
            self.by_url[key] = rec
        return rec

    def _new(self, key: tuple[Any, ...], name: str, method: str, status: int, error: str | None,
             expected: bool, tags: Mapping[str, str] | None) -> HttpRecorder:
        t = dict(self.tags)
        if tags:
            t.update(tags)
        t.update(name=name, method=method, status=str(status),
                 expected_response="true" if expected else "false")
        if error:
            t["error"] = error
        return self.collector.http_recorder((self.scenario, key), make_tags(t), expected)


__all__ = ["HttpSeries", "default_name", "is_expected"]
