"""``--output prometheus-rw=URL``: Prometheus remote write (protobuf +
snappy, version 0.1.0 of the protocol, as k6's output sends it), one push per
interval with the series of :class:`~fleetload.outputs.prom_metrics.RunMetrics`.
The few protobuf fields a ``WriteRequest`` needs are written directly, each
series' labels encoded once for the run; :func:`write_request_class` is the
message as protobuf itself defines it, to read one back.

Pushes go out from a thread of their own through a bounded queue: a slow or
dead Prometheus never stops or slows the run. A push is tried
:data:`ATTEMPTS` times (connection errors, 5xx and 429 are retried, other
4xx are not); one that still fails, or that the full queue pushes out, is
dropped and counted. At the end the queue gets :data:`FLUSH_TIMEOUT` seconds
to drain; the counts go into ``meta.json`` and ``summary.json``
(``meta.remote_write``).
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import queue
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import cramjam

from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.prom_metrics import Family, FamilySample, LabelPairs, RunMetrics
from fleetload.redact import redact_url
from fleetload.results import rundir

if TYPE_CHECKING:
    from prometheus_client.core import Metric

ATTEMPTS = 3
BACKOFF = 0.2  # seconds before the second attempt, doubled after
PUSH_TIMEOUT = 2.0
FLUSH_TIMEOUT = 5.0
QUEUE_SIZE = 120  # intervals waiting to be pushed

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "fleetload",
}


@functools.cache
def write_request_class() -> Any:
    """``prometheus.WriteRequest`` (remote.proto and types.proto, the fields
    remote write 1.0 uses), built from a descriptor: no generated code. Not
    needed to push (:func:`encode` writes the fields itself), so protobuf is
    imported here only."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="fleetload/prometheus_remote.proto",
                                           package="prometheus", syntax="proto3")
    t = descriptor_pb2.FieldDescriptorProto
    string, double, int64, message = t.TYPE_STRING, t.TYPE_DOUBLE, t.TYPE_INT64, t.TYPE_MESSAGE
    optional, repeated = t.LABEL_OPTIONAL, t.LABEL_REPEATED

    def msg(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            m.field.add(name=fname, number=number, type=ftype, label=label,
                        type_name=type_name or None)

    msg("Label", ("name", 1, string, optional, ""), ("value", 2, string, optional, ""))
    msg("Sample", ("value", 1, double, optional, ""), ("timestamp", 2, int64, optional, ""))
    msg("TimeSeries", ("labels", 1, message, repeated, ".prometheus.Label"),
        ("samples", 2, message, repeated, ".prometheus.Sample"))
    msg("WriteRequest", ("timeseries", 1, message, repeated, ".prometheus.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@functools.lru_cache(maxsize=65536)
def _series_head(name: str, labels: LabelPairs, sample_len: int) -> bytes:
    """A ``TimeSeries`` (WriteRequest field 1) up to its sample's value: the
    series' labels (``__name__`` first, the rest sorted by name, as the
    protocol requires) and the sample's field header. Built once per series
    (a run's series keep their labels, and every sample has the same size)."""
    pairs = sorted((("__name__", name), *labels))
    encoded = b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode())) for k, v in pairs)
    sample_head = b"\x12" + _varint(sample_len) + b"\x09"  # TimeSeries.samples, Sample.value
    body_len = len(encoded) + len(sample_head) + sample_len - 1
    return b"\x0a" + _varint(body_len) + encoded + sample_head


def encode_samples(samples: Iterable[FamilySample], timestamp_ms: int) -> bytes:
    """One snappy-compressed ``WriteRequest``, one sample per series."""
    stamp = b"\x10" + _varint(timestamp_ms & 0xFFFFFFFFFFFFFFFF)  # Sample.timestamp
    sample_len = 9 + len(stamp)  # the value (tag + 8 bytes) and the timestamp
    pack = struct.Struct("<d").pack
    parts = []
    for name, labels, value in samples:
        parts.append(_series_head(name, labels, sample_len))
        parts.append(pack(value))
        parts.append(stamp)
    return bytes(cramjam.snappy.compress_raw(b"".join(parts)))


def encode(families: Iterable[Metric | Family], timestamp_ms: int) -> bytes:
    """One snappy-compressed ``WriteRequest`` of every sample of ``families``
    (:class:`Family` or prometheus-client metrics)."""
    def samples() -> Iterator[FamilySample]:
        for fam in families:
            if isinstance(fam, Family):
                yield from fam.samples
            else:
                for s in fam.samples:
                    yield s.name, tuple(sorted(s.labels.items())), float(s.value)
    return encode_samples(samples(), timestamp_ms)


class RemoteWrite:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.headers = dict(HEADERS)
        if parts.username is not None:
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(
                user_pass.encode()).decode()
            netloc = parts.netloc.rsplit("@", 1)[1]
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        self.url = url
        target = urlsplit(url)
        self._target = (target.path or "/") + (f"?{target.query}" if target.query else "")
        self._conn: http.client.HTTPConnection | None = None
        self.shown = redact_url(url) or url
        self.metrics = RunMetrics()
        self._queue: queue.Queue[tuple[int, list[Family]] | None] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._start_wall = 0.0
        self._run_dir: Any = None
        self._busy = False
        self.pushed = 0
        self.failed = 0  # pushes given up after their attempts
        self.overflowed = 0  # pushes the full queue dropped
        self.last_error: str | None = None

    def description(self) -> str:
        return f"prometheus remote write {self.shown}"

    def use_metrics(self, metrics: RunMetrics) -> None:
        """Share ``metrics`` with another output (before the run starts)."""
        self.metrics = metrics

    @property
    def dropped(self) -> int:
        return self.failed + self.overflowed

    def start(self, run: RunStart) -> None:
        self.metrics.run_id = run.run_id
        self._start_wall = run.start_wall
        self._run_dir = run.run_dir
        self._thread = threading.Thread(target=self._send_loop, name="prometheus-rw",
                                        daemon=True)
        self._thread.start()

    def add_interval(self, interval: Interval) -> None:
        self.metrics.add(interval.snapshot)
        stamp = int((self._start_wall + interval.snapshot.end) * 1000)
        item = (stamp, self.metrics.families())
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:  # the oldest push goes: the newest has the run's totals
                    if self._queue.get_nowait() is not None:
                        self.overflowed += 1
                except queue.Empty:
                    pass

    def _send_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._close()
                return
            self._busy = True
            try:
                if self._push(encode(item[1], item[0])):
                    self.pushed += 1
                else:
                    self.failed += 1
            finally:
                self._busy = False

    def _push(self, body: bytes) -> bool:
        attempt = 0
        while attempt < ATTEMPTS:
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            reused = self._conn is not None
            conn = self._connection()
            try:
                conn.request("POST", self._target, body=body, headers=self.headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self._close()
                if reused and not isinstance(exc, TimeoutError):
                    continue  # the receiver closed its kept-alive connection: a new one
                self.last_error = f"{type(exc).__name__}: {exc}"
                attempt += 1
                continue
            if resp.will_close:
                self._close()
            if 200 <= resp.status < 300:
                return True
            detail = data[:200].decode("utf-8", "replace").strip()
            self.last_error = f"HTTP {resp.status}" + (f": {detail}" if detail else "")
            if 400 <= resp.status < 500 and resp.status != 429:
                return False
            attempt += 1
        return False

    def _connection(self) -> http.client.HTTPConnection:
        """One kept-alive connection to the receiver, opened when needed."""
        if self._conn is None:
            parts = urlsplit(self.url)
            if parts.scheme == "https":
                self._conn = http.client.HTTPSConnection(parts.hostname or "", parts.port,
                                                         timeout=PUSH_TIMEOUT)
            else:
                self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port,
                                                        timeout=PUSH_TIMEOUT)
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def stop(self, end: RunEnd | None) -> None:
        thread = self._thread
        if thread is None:
            return
        deadline = time.monotonic() + FLUSH_TIMEOUT
        try:
            self._queue.put(None, timeout=FLUSH_TIMEOUT)
        except queue.Full:
            pass
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():  # Prometheus too slow: what is left is dropped
            left = sum(1 for item in _drain(self._queue) if item is not None)
            self.failed += left + (1 if self._busy else 0)
            self.last_error = self.last_error or "timed out flushing"
        self._record()

    def report(self) -> dict[str, Any]:
        return {"kind": "prometheus-rw", "url": self.shown, "pushed": self.pushed,
                "dropped": self.dropped, "last_error": self.last_error}

    def _record(self) -> None:
        """The counts in meta.json and summary.json (written just before)."""
        report = self.report()
        if self.dropped:
            print(f"fleetload: warning: prometheus remote write {self.shown}: {self.dropped} "
                  f"of {self.pushed + self.dropped} pushes dropped (last error: "
                  f"{self.last_error})", file=sys.stderr, flush=True)
        if self._run_dir is None:
            return
        meta_path = self._run_dir / rundir.META
        summary_path = self._run_dir / rundir.SUMMARY
        for path, inner in ((meta_path, False), (summary_path, True)):
            if not path.is_file():
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            meta = data.setdefault("meta", {}) if inner else data
            meta.setdefault("remote_write", []).append(report)
            rundir.write_json(path, data)


def _drain(q: queue.Queue[Any]) -> Iterable[Any]:
    while True:
        try:
            yield q.get_nowait()
        except queue.Empty:
            return
