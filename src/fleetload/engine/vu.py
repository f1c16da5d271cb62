"""Virtual users and the metrics-recording HTTP session a script sees as ``vu.http``."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Collection, Coroutine, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from fleetload.metrics.collector import HttpRecorder
from fleetload.metrics.kinds import Tags, make_tags
from fleetload.protocols.http.client import MISSING
from fleetload.protocols.http.methods import MethodShortcuts

if TYPE_CHECKING:
    from fleetload.engine.runtime import ScenarioRuntime
    from fleetload.protocols.http import HttpClient
    from fleetload.protocols.http.response import Response

current_vu: ContextVar[VU | None] = ContextVar("fleetload_current_vu", default=None)

_ID_SEGMENT = re.compile(r"^(?!v\d+$).*\d")
# Per-URL caches (names, recorders) are emptied past this many URLs: above the
# agent-storm pack's 5,000 agent URLs, so a fleet round-robin stays cached.
_URL_CACHE_LIMIT = 16_384


def default_name(url: str) -> str:
    """The ``name`` tag of a request when the script gives none: its path without
    the query, with ID-like segments (any segment holding a digit, except version
    segments such as ``v1``) replaced by ``{id}``, so a URL per agent does not
    make a metric series per agent."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return "/".join("{id}" if seg and _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))


class HttpSession(MethodShortcuts):
    """``vu.http``: the shared client plus metric recording with the VU's tags
    (``get``/``post``/... come from :class:`MethodShortcuts`).

    ``request`` is a plain function returning the client's coroutine, with the
    recording as its sink: a request costs one coroutine, not one per layer.
    """

    __slots__ = ("_by_url", "_client", "_names", "_record_plain", "_recorders", "_rt", "_vu")

    def __init__(self, vu: VU, rt: ScenarioRuntime) -> None:
        self._vu = vu
        self._rt = rt
        self._client: HttpClient = rt.client
        self._recorders: dict[tuple[Any, ...], HttpRecorder] = rt.http_recorders
        self._by_url: dict[tuple[Any, ...], HttpRecorder] = rt.http_recorders_by_url
        self._names: dict[str, str] = rt.request_names
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
                self._recorder(resp, name, tags, expected_statuses).record(
                    resp, self._vu.intended_start)
        return self._client.send(method, url, headers, body, json, params, timeout, sink)

    def _record_untagged(self, resp: Response) -> None:
        # The common case, once per request: the recorder straight from the
        # response's URL, method and outcome, without deriving the name again.
        key = (resp.url, resp.method, resp.status, resp.error)
        rec = self._by_url.get(key)
        if rec is None:
            rec = self._recorder(resp, None, None, None)
            if len(self._by_url) > _URL_CACHE_LIMIT:
                self._by_url.clear()
            self._by_url[key] = rec
        # HttpRecorder.record, inlined: the hottest call site.
        rec.times.append(resp._t)
        rec.intended.append(self._vu.intended_start)

    def _recorder(self, resp: Response, name: str | None, tags: Mapping[str, str] | None,
                  expected_statuses: Collection[int] | None) -> HttpRecorder:
        method = resp.method
        if name is None:
            url = resp.url
            name = self._names.get(url)
            if name is None:
                if len(self._names) > _URL_CACHE_LIMIT:
                    self._names.clear()
                name = self._names[url] = default_name(url)
        status = resp.status
        err = resp.error
        if tags is None and expected_statuses is None:
            key: tuple[Any, ...] = (name, method, status, err)
        else:
            key = (name, method, status, err, tuple(tags.items()) if tags else None,
                   tuple(expected_statuses) if expected_statuses else None)
        rec = self._recorders.get(key)
        if rec is None:
            ok = err is None and (status in expected_statuses if expected_statuses
                                  else 200 <= status < 400)
            rec = self._rt.new_http_recorder(key, name, method, status, err, ok, tags)
        if not rec.expected:
            self._rt.note_failure(resp)
        return rec


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

    def __init__(self, vu_id: int, rt: ScenarioRuntime) -> None:
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
