"""Servers started by the tests and benchmarks: wait until one listens, stop one by its pid."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any


def wait_listening(port: int, proc: subprocess.Popen[Any], timeout: float) -> bool:
    """True once 127.0.0.1:``port`` accepts a connection; False if ``proc`` exits
    or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaped either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
