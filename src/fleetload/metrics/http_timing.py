"""The raw timing record of one HTTP response: the contract between the
protocol client (which fills it) and the metrics binning (which reads it in
bulk).

What a connection stores per response, in this order (``Response._t``):
the request's start, when its bytes started and finished going out, the
first and last response byte (``time.perf_counter()``), the blocked,
connecting and TLS phases (seconds), bytes sent and bytes received. One
tuple instead of an object of nine attributes keeps the hot path short;
the metrics binning reads these columns in bulk, and ``Response.timings``
turns them into :class:`Timings` only when a script asks.
"""

from __future__ import annotations

from typing import Final

RawTimes = tuple[float, float, float, float, float, float, float, float, int, int]
RAW_STARTED: Final = 0
RAW_SEND: Final = 1
RAW_SENT: Final = 2
RAW_FIRST: Final = 3
RAW_LAST: Final = 4
RAW_BLOCKED: Final = 5
RAW_CONNECTING: Final = 6
RAW_TLS: Final = 7
RAW_BYTES_SENT: Final = 8
RAW_BYTES_RECEIVED: Final = 9
RAW_FIELDS: Final = 10
