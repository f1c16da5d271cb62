"""What a lost node leaves undone: its share of the open-loop schedules.

Worker ``w`` of ``T`` runs the global iterations ``n`` with ``n % T == w``
(:mod:`fleetload.engine.pacing`), so a node holding workers ``a .. a+P-1``
would have started exactly the iterations of that residue range due after it
was lost.
"""

from __future__ import annotations

import math

from fleetload.engine.executors import ArrivalRateExecutor
from fleetload.engine.pacing import Pacer
from fleetload.engine.plan import Plan


def _pacer(executor: object) -> Pacer | None:
    return executor.pacer() if isinstance(executor, ArrivalRateExecutor) else None


def _first_due_at(pacer: Pacer, t: float, end: int) -> int:
    """The first iteration due at or after ``t`` (``end`` when none is)."""
    lo, hi = 0, end
    while lo < hi:
        mid = (lo + hi) // 2
        due = pacer.time_of(mid)
        if due is not None and due < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _in_residues(lo: int, hi: int, first: int, width: int, total: int) -> int:
    """How many ``n`` in ``[lo, hi)`` have ``first <= n % total < first + width``."""
    def below(x: int) -> int:  # count in [0, x)
        full, rest = divmod(x, total)
        return full * width + min(max(rest - first, 0), width)
    return max(below(hi) - below(lo), 0)


def unsent_iterations(plan: Plan, first: int, width: int, total: int,
                      after: float) -> dict[str, int]:
    """Scheduled iterations of workers ``first .. first+width-1`` of ``total``
    due ``after`` seconds or later into the run, per open-loop scenario."""
    out: dict[str, int] = {}
    for sc in plan.scenarios:
        ex = sc.executor
        if not ex.open_loop:
            continue
        pacer = _pacer(ex)
        if pacer is None:
            continue
        end = math.ceil(pacer.total())
        lo = _first_due_at(pacer, after - float(ex.start_time), end)
        out[sc.name] = _in_residues(lo, end, first, width, total)
    return out
