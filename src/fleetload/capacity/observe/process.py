"""``--observe process=PID|NAME``: a local process from ``/proc`` (Linux only).

No psutil: ``/proc/<pid>/stat`` gives CPU ticks (utime + stime), thread count
and RSS pages; ``/proc/<pid>/fd`` the open files. CPU % is the tick delta
between two samples over the wall-clock delta (100 % = one core busy).

A NAME matches every process whose ``comm`` equals it or whose command line
holds it as a word (``fleetplane`` finds ``python -m fleetplane target``,
``postgres`` every backend), re-resolved on each sample so processes that come
and go (PostgreSQL backends) are counted. Values are summed over the matches;
``cpu_max_pct`` is the busiest single process, which is what saturates first for
a single-threaded event loop.

``GeneratorObserver`` is the same measurement of fleetload itself (this process
and its worker processes): a ceiling step whose generator was CPU-bound did
not measure the target.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from fleetload.errors import ConfigError

_PROC = Path("/proc")
_TICKS = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
_PAGE = float(os.sysconf("SC_PAGE_SIZE")) if hasattr(os, "sysconf") else 4096.0


def read_stat(pid: int) -> tuple[int, float, int, float]:
    """(ppid, cpu seconds, threads, rss bytes) of ``pid``; raises OSError if gone."""
    raw = (_PROC / str(pid) / "stat").read_text()
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    threads = int(fields[17])
    rss = int(fields[21]) * _PAGE
    return ppid, cpu, threads, rss


def runqueue_wait(pid: int) -> float:
    """Seconds the process's main thread has spent runnable but waiting for a
    core (``/proc/<pid>/schedstat``, field 2): CPU starvation by other work."""
    try:
        return int((_PROC / str(pid) / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(_PROC / str(pid) / "fd"))
    except OSError:  # another user's process: fds are not readable
        return -1


def all_pids() -> list[int]:
    return [int(p.name) for p in _PROC.iterdir() if p.name.isdigit()]


def pids_named(name: str) -> list[int]:
    me = os.getpid()
    out = []
    for pid in all_pids():
        if pid == me:
            continue
        try:
            comm = (_PROC / str(pid) / "comm").read_text().strip()
            if comm == name:
                out.append(pid)
                continue
            argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = {os.path.basename(a.decode(errors="replace")) for a in argv if a}
        if name in words:
            out.append(pid)
    return out


def _session(pid: int) -> int:
    raw = (_PROC / str(pid) / "stat").read_text()
    return int(raw[raw.rindex(")") + 2:].split()[3])


def descendants(root: int) -> list[int]:
    """``root`` and every process below it in the same session: the worker
    processes of a run, but not a target a test or benchmark started from the
    same process (those get a session of their own, as ``start_target`` does)."""
    children: dict[int, list[int]] = {}
    session = _session(root)
    for pid in all_pids():
        try:
            ppid = read_stat(pid)[0]
            if _session(pid) != session:
                continue
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


class ProcessObserver:
    def __init__(self, what: str, *, source: str | None = None,
                 resolve: Callable[[], list[int]] | None = None) -> None:
        if not _PROC.is_dir():
            raise ConfigError("--observe process=...: needs Linux /proc")
        what = what.strip()
        if not what:
            raise ConfigError("--observe process=: give a PID or a process name")
        self.what = what
        if resolve is not None:
            self._resolve = resolve
        elif what.isdigit():
            pid = int(what)
            if not (_PROC / what).is_dir():
                raise ConfigError(f"--observe process={what}: no such process")
            self._resolve = lambda: [pid]
        else:
            self._resolve = lambda: pids_named(what)
        self.source = source or f"process:{what}"
        self._prev: dict[int, tuple[float, float, float]] = {}  # pid -> (wall, cpu s, wait s)

    async def sample(self) -> dict[str, float]:
        pids = self._resolve()
        now = time.perf_counter()
        cpu_pct = cpu_max = demand_max = wait_max = rss = threads = 0.0
        files = 0
        seen: dict[int, tuple[float, float, float]] = {}
        for pid in pids:
            try:
                _, cpu, nthreads, prss = read_stat(pid)
            except (OSError, ValueError, IndexError):
                continue  # exited between listing and reading
            wait = runqueue_wait(pid)
            seen[pid] = (now, cpu, wait)
            prev = self._prev.get(pid)
            if prev is not None and now > prev[0]:
                span = now - prev[0]
                pct = 100.0 * max(cpu - prev[1], 0.0) / span
                wait_pct = 100.0 * max(wait - prev[2], 0.0) / span
                cpu_pct += pct
                cpu_max = max(cpu_max, pct)
                wait_max = max(wait_max, wait_pct)
                # Busy plus waiting for a core: what the process would use alone.
                demand_max = max(demand_max, pct + wait_pct)
            rss += prss
            threads += nthreads
            nf = open_files(pid)
            files += max(nf, 0)
        if not seen:
            raise RuntimeError(f"no process matches {self.what!r}")
        first = not self._prev
        self._prev = seen
        values = {"rss_mb": rss / 1e6, "threads": threads, "open_files": float(files),
                  "processes": float(len(seen))}
        if not first:
            values["cpu_pct"] = cpu_pct
            values["cpu_max_pct"] = cpu_max
            values["runq_wait_max_pct"] = wait_max
            values["cpu_demand_max_pct"] = demand_max
        return values

    async def close(self) -> None:
        return None


GENERATOR = "generator"


def generator_observer() -> ProcessObserver:
    me = os.getpid()
    return ProcessObserver(str(me), source=GENERATOR, resolve=lambda: descendants(me))
