"""``--output csv=FILE``: the run's tidy rows (:mod:`fleetload.outputs.tidy`),
written and flushed every interval, so a run that is killed keeps its rows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, TextIO

from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.tidy import COLUMNS, csv_cells, format_value, interval_rows


class CsvOutput:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._writer: Any = None  # a csv writer

    def description(self) -> str:
        return f"csv {self.path}"

    def start(self, run: RunStart) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        self._file.flush()

    def add_interval(self, interval: Interval) -> None:
        assert self._writer is not None and self._file is not None
        rows = interval_rows(interval.row, interval.snapshot.trends)
        if rows:  # one time for every row of the interval: formatted once
            t = csv_cells(rows[0])[0]
            self._writer.writerows((t, r[1], r[2], r[3], format_value(r[4])) for r in rows)
        self._file.flush()

    def stop(self, end: RunEnd | None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

