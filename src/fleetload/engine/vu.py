"""Virtual users; the metrics-recording HTTP session a script sees as ``vu.http``
is :mod:`fleetload.engine.http_session`."""

from __future__ import annotations

import random
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from fleetload.engine.http_session import HttpSession, VuHost
from fleetload.metrics.kinds import Tags, make_tags

current_vu: ContextVar[VU | None] = ContextVar("fleetload_current_vu", default=None)


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


__all__ = ["VU", "HttpSession", "VuHost", "current_vu", "scenario_tags"]
