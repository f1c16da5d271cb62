"""The driver's connection to a Ray cluster, with the script shipped to it.

The script travels alone as the job's ``runtime_env`` working directory (every
actor's current directory) and the nodes load it by its name. A connection is
Ray's own process-wide state, so the one open here is recorded: a later run of
the same script on the same cluster (the steps of a ceiling) uses it instead
of connecting again.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from fleetload.errors import ConfigError, FleetloadError
from fleetload.script.recipe import PlanRecipe

_CONNECT_ATTEMPTS = 3
_SERVER_START_FAILED = "Starting Ray client server failed"


def import_ray() -> ModuleType:
    try:
        import ray  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ConfigError("--cluster needs Ray on this machine: pip install 'fleetload[ray]'") \
            from None
    return ray


def reachable(address: str, timeout: float = 5.0) -> None:
    """One clear error at once for a HOST:PORT that does not answer (Ray
    itself retries for minutes, then may start a local instance instead)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--cluster {address}: expected ray://HOST:PORT, HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise FleetloadError(f"cannot reach the Ray cluster at {address}: "
                             f"{exc.strerror or exc}") from None


class RayConnection:
    def __init__(self, address: str, script: str | None) -> None:
        self.ray = import_ray()
        self.address = address
        self.script = script
        self._tmp: Path | None = None

    def open(self) -> None:
        """Connect (on the main thread: Ray's driver wants it) and record the connection."""
        global _current
        ray = self.ray
        reachable(self.address)
        env: dict[str, Any] = {}
        if self.script is not None:
            self._tmp = Path(tempfile.mkdtemp(prefix="fleetload-cluster-"))
            shutil.copy2(self.script, self._tmp / Path(self.script).name)
            env = {"working_dir": str(self._tmp)}
        for attempt in range(_CONNECT_ATTEMPTS):
            try:
                ray.init(address=self.address, logging_level=logging.WARNING,
                         log_to_driver=True, runtime_env=env)
                break
            except (ConnectionError, RuntimeError, ValueError) as exc:
                # The Ray client proxy starts a server process per client; on
                # a busy head that start can fail once and succeed next time.
                if _SERVER_START_FAILED in str(exc) and attempt + 1 < _CONNECT_ATTEMPTS:
                    ray.shutdown()
                    time.sleep(1.0)
                    continue
                self._remove_copy()
                first = str(exc).split(". ")[0].rstrip(".")
                raise FleetloadError(f"cannot connect to the Ray cluster at {self.address}: "
                                     f"{first}") from None
        _current = self

    def serves(self, address: str, script: str | None) -> bool:
        return self.address == address and self.script == script

    def node_recipe(self, recipe: PlanRecipe) -> PlanRecipe:
        """The recipe as the nodes load it: the script by its name in the working directory."""
        if recipe.script is None:
            return recipe
        return replace(recipe, script=Path(recipe.script).name)

    def close(self) -> None:
        global _current
        if _current is self:
            _current = None
        if self.ray.is_initialized():
            self.ray.shutdown()
        self._remove_copy()

    def _remove_copy(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


_current: RayConnection | None = None


def current(address: str, script: str | None) -> RayConnection | None:
    """The open connection, if it is to ``address`` and ships ``script``."""
    if _current is not None and _current.serves(address, script) \
            and _current.ray.is_initialized():
        return _current
    return None


@contextmanager
def shared_connection(address: str, script: str | None) -> Iterator[RayConnection]:
    """One connection for several runs of one script (a ceiling's steps)."""
    conn = RayConnection(address, script)
    conn.open()
    try:
        yield conn
    finally:
        conn.close()
