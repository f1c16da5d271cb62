"""``vu.http``: the shared HTTP client plus metric recording with the VU's tags.

On the hot path of every request (compiled by mypyc in a compiled build, see
setup.py); the VU itself (:mod:`fleetload.engine.vu`) stays a plain Python
class, so scripts may keep their own attributes on it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from fleetload.metrics.http_series import HttpSeries
from fleetload.metrics.kinds import Tags
from fleetload.protocols.http.client import MISSING, HttpClient
from fleetload.protocols.http.methods import MethodShortcuts
from fleetload.protocols.http.response import Response

if TYPE_CHECKING:
    from fleetload.engine.vu import VU


class VuHost(Protocol):
    """What a VU and its ``vu.http`` need of the scenario running them (the
    engine's :class:`~fleetload.engine.runtime.ScenarioRuntime`)."""

    name: str
    client: HttpClient
    series: HttpSeries
    run_id: str
    env: Mapping[str, str]
    setup_data: Any
    worker_index: int
    worker_count: int
    tags: Tags


class HttpSession(MethodShortcuts):
    """``vu.http``: the shared client plus metric recording with the VU's tags
    (``get``/``post``/... come from :class:`MethodShortcuts`).

    ``request`` is a plain function returning the client's coroutine, with the
    recording as its sink: a request costs one coroutine, not one per layer.
    """

    __slots__ = ("_by_url", "_client", "_record_plain", "_series", "_vu")

    def __init__(self, vu: VU, host: VuHost) -> None:
        self._vu = vu
        self._client: HttpClient = host.client
        self._series = host.series
        self._by_url = host.series.by_url
        self._record_plain = self._record_untagged  # bound once, not per request

    def request(self, method: str, url: str, *, name: str | None = None,
                tags: Mapping[str, str] | None = None,
                expected_statuses: Collection[int] | None = None,
                headers: Mapping[str, str] | None = None, body: bytes | str | None = None,
                json: Any = MISSING, params: Mapping[str, str | int] | None = None,
                timeout: float | None = None) -> Coroutine[Any, Any, Response]:
        """Send a request (see :meth:`HttpClient.request`) and record it with
        this VU's tags; ``name`` replaces the URL-derived ``name`` tag, ``tags``
        adds tags, ``expected_statuses`` decides what counts as failed."""
        sink: Callable[[Response], None]
        if name is None and tags is None and expected_statuses is None:
            sink = self._record_plain
        else:
            def sink(resp: Response) -> None:
                self._series.recorder(resp, name, tags, expected_statuses).record(
                    resp, self._vu.intended_start)
        return self._client.send(method, url, headers, body, json, params, timeout, sink)

    def _record_untagged(self, resp: Response) -> None:
        # The common case, once per request: the recorder straight from the
        # response's URL, method and outcome, without deriving the name again.
        rec = self._by_url.get((resp.url, resp.method, resp.status, resp.error))
        if rec is None:
            rec = self._series.recorder_by_url(resp)
        # HttpRecorder.record, inlined: the hottest call site.
        rec.times.append(resp._t)
        rec.intended.append(self._vu.intended_start)


__all__ = ["HttpSession", "VuHost"]
