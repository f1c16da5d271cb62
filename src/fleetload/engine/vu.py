"""Virtual users and the metrics-recording HTTP session a script sees as ``vu.http``."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, Protocol

from fleetload.metrics.http_series import HttpSeries
from fleetload.metrics.kinds import Tags, make_tags
from fleetload.protocols.http.client import MISSING, HttpClient
from fleetload.protocols.http.methods import MethodShortcuts
from fleetload.protocols.http.response import Response

current_vu: ContextVar[VU | None] = ContextVar("fleetload_current_vu", default=None)


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


class VU:
    """One virtual user: identity, per-VU state, and the HTTP session.

    ``id`` is unique across all workers of a run (1-based); ``iteration`` counts
    this VU's iterations; ``scenario_iteration`` is unique across the scenario and
    all workers, handy for unique names.
    """

    __slots__ = (
        "__dict__",
        "_rng",
        "_rt",
        "http",
        "id",
        "intended_start",
        "iteration",
        "scenario_iteration",
        "state",
        "stop_requested",
        "task",
        "wake",
    )

    def __init__(self, vu_id: int, rt: VuHost) -> None:
        self.id = vu_id
        self._rt = rt
        self.iteration = 0
        self.scenario_iteration = 0
        self.intended_start = 0.0
        self.state: dict[str, Any] = {}
        self._rng: random.Random | None = None
        self.http = HttpSession(self, rt)
        self.task: Any = None
        self.wake: Any = None  # open loop: the future a parked VU waits on
        self.stop_requested = False

    @property
    def rng(self) -> random.Random:
        """A ``random.Random`` seeded from the run, scenario and VU id: the same
        run id replays the same choices. Made on first use (seeding from a
        string hashes it: too slow to do for every VU an open loop creates)."""
        rng = self._rng
        if rng is None:
            rng = self._rng = random.Random(f"{self._rt.run_id}:{self._rt.name}:{self.id}")
        return rng

    @property
    def scenario(self) -> str:
        return self._rt.name

    @property
    def env(self) -> Mapping[str, str]:
        return self._rt.env

    @property
    def data(self) -> Any:
        """What the script's ``setup()`` returned."""
        return self._rt.setup_data

    @property
    def run_id(self) -> str:
        return self._rt.run_id

    @property
    def worker_index(self) -> int:
        """This process's index among ``--workers`` (0-based)."""
        return self._rt.worker_index

    @property
    def worker_count(self) -> int:
        return self._rt.worker_count

    @property
    def tags(self) -> Tags:
        return self._rt.tags

    def unique(self, prefix: str = "") -> str:
        """A name unique across the run: ``<prefix><run-id>-<n>``."""
        return f"{prefix}{self._rt.run_id}-{self.scenario_iteration}"

    def __repr__(self) -> str:
        return f"<VU {self.id} scenario={self._rt.name} iteration={self.iteration}>"


def scenario_tags(name: str, user: Mapping[str, str] | None) -> Tags:
    tags = dict(user or {})
    tags["scenario"] = name
    return make_tags(tags)
