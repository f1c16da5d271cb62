"""HdrHistogram interval logs (``.hlog``), readable by the standard HdrHistogram
tools (HistogramLogProcessor, HdrHistogramVisualizer, hdrh's reader).

One line per metric series per interval, tagged ``Tag=<series>``. Values are
microseconds; ``Interval_Max`` is written in milliseconds. Tags in the format
cannot hold commas or spaces, so those are percent-encoded in series names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from fleetload.metrics.histogram import Binned, Histogram
from fleetload.metrics.kinds import SeriesKey, series_name

MAX_UNIT_RATIO = 1000.0  # µs -> ms for Interval_Max


def encode_tag(name: str) -> str:
    return name.replace("%", "%25").replace(",", "%2C").replace(" ", "%20")


def decode_tag(tag: str) -> str:
    return tag.replace("%2C", ",").replace("%20", " ").replace("%25", "%")


class HlogWriter:
    def __init__(self, path: Path, start_wall: float) -> None:
        self._file: TextIO = path.open("w", encoding="ascii")
        self._scratch = Histogram()
        stamp = datetime.fromtimestamp(start_wall, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        self._file.write("#[Histogram log format version 1.3]\n")
        self._file.write(f"#[StartTime: {start_wall:.3f} (seconds since epoch), {stamp}]\n")
        self._file.write(f"#[BaseTime: {start_wall:.3f} (seconds since epoch)]\n")
        self._file.write("#[fleetload: values in microseconds, Interval_Max in milliseconds]\n")
        self._file.write('"StartTimestamp","Interval_Length","Interval_Max",'
                         '"Interval_Compressed_Histogram"\n')
        self._file.flush()

    def write_interval(self, start: float, end: float, trends: dict[SeriesKey, Binned]) -> None:
        h = self._scratch
        for (name, tags), b in trends.items():
            if not b.count:
                continue
            h.counts[:] = 0
            h.counts[b.index] = b.counts
            h.count, h.total, h.min, h.max = b.count, b.total, b.min, b.max
            tag = encode_tag(series_name(name, tags))
            self._file.write(f"Tag={tag},{start:.3f},{max(end - start, 0.0):.3f},"
                             f"{b.max / MAX_UNIT_RATIO:.3f},{h.encode()}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass(slots=True)
class HlogEntry:
    series: str
    start: float
    length: float
    max_ms: float
    payload: str

    def histogram(self) -> Histogram:
        return Histogram.decode(self.payload, max_us=self.max_ms * MAX_UNIT_RATIO)


def read_hlog(path: Path) -> Iterator[HlogEntry]:
    with path.open(encoding="ascii") as f:
        for line in f:
            if line.startswith(("#", '"')) or not line.strip():
                continue
            series = ""
            if line.startswith("Tag="):
                tag, _, line = line.partition(",")
                series = decode_tag(tag[4:])
            start, length, max_ms, payload = line.strip().split(",", 3)
            yield HlogEntry(series, float(start), float(length), float(max_ms), payload)


