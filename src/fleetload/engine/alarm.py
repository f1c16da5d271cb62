"""Waking the event loop at an instant, to a fraction of a millisecond.

uvloop's timers are libuv's: whole milliseconds counted from a loop time that
is itself cached to the millisecond, so a wake-up asked for at ``t`` comes up
to about 2 ms after it, and an open-loop schedule at 10,000 iterations/s
starts its iterations a millisecond late on average, by construction.

On Linux an :class:`Alarm` is a ``timerfd`` armed at an absolute
``CLOCK_MONOTONIC`` instant (the clock behind :func:`time.perf_counter`) and
watched by the loop like a socket: the loop's ``epoll`` wakes within the
kernel's timer slack (50 µs by default). Elsewhere, or where libc has no
``timerfd``, it falls back to the loop's own timer (``Alarm.precise`` says
which).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import time
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _timerfd_functions() -> tuple[Callable[..., int], Callable[..., int]] | None:
    """libc's ``timerfd_create`` and ``timerfd_settime``, when this platform
    has them and ``perf_counter`` reads ``CLOCK_MONOTONIC``."""
    if not sys.platform.startswith("linux"):
        return None
    if "CLOCK_MONOTONIC" not in time.get_clock_info("perf_counter").implementation:
        return None
    try:
        # The process's own symbols include libc's: no library search (which
        # runs ldconfig in a subprocess) on every start of fleetload.
        libc = ctypes.CDLL(None, use_errno=True)
        create = libc.timerfd_create
        settime = libc.timerfd_settime
    except (OSError, AttributeError):
        return None
    create.argtypes = [ctypes.c_int, ctypes.c_int]
    create.restype = ctypes.c_int
    settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
    settime.restype = ctypes.c_int
    return create, settime


_TIMERFD = _timerfd_functions()


class Alarm:
    """Calls ``callback`` on ``loop`` once ``time.perf_counter()`` reaches the
    instant last given to :meth:`arm`; arming again replaces that instant.
    One alarm, one pending wake-up; :meth:`close` releases it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0
        self._fd = -1
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._settime: Callable[..., int] | None = None
        if _TIMERFD is not None:
            create, self._settime = _TIMERFD
            fd = create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0:
                try:
                    loop.add_reader(fd, self._on_ready)
                except (NotImplementedError, OSError):
                    os.close(fd)
                else:
                    self._fd = fd

    @property
    def precise(self) -> bool:
        """True when wake-ups come from a timerfd, not the loop's timer."""
        return self._fd >= 0

    def arm(self, at: float) -> None:
        """Wake at ``at`` (a ``perf_counter`` instant); one in the past wakes
        at the loop's next turn."""
        if self._fd >= 0 and self._settime is not None:
            ns = max(int(at * 1e9), 1)  # 0 would disarm the timer
            value = self._spec.it_value
            value.tv_sec, value.tv_nsec = divmod(ns, 1_000_000_000)
            if self._settime(self._fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) == 0:
                return
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")
        self._at = at
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(at - time.perf_counter(), 0.0), self._fire)

    def _on_ready(self) -> None:
        try:
            os.read(self._fd, 8)  # the expiry count; reading re-arms the readiness
        except BlockingIOError:
            return  # re-armed for later since the expiry was signalled
        self._callback()

    def _fire(self) -> None:
        # The loop's timer rounds to milliseconds and may come a little early.
        early = self._at - time.perf_counter()
        if early > 0:
            self._handle = self._loop.call_later(early, self._fire)
            return
        self._handle = None
        self._callback()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


__all__ = ["Alarm"]
