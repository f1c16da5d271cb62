"""Publishing a baseline into a document, between markers::

    <!-- fleetload:baseline NAME -->
    ...generated table...
    <!-- /fleetload:baseline -->

The document is handled as bytes: everything outside the markers (encoding,
line endings, a missing final newline) stays exactly as it was, and the
generated part depends only on the baseline, so publishing twice changes
nothing the second time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetload.baseline.data import RunData
from fleetload.baseline.render import format_value
from fleetload.errors import FleetloadError
from fleetload.redact import scrub_credentials

END_MARKER = b"<!-- /fleetload:baseline -->"


def start_marker(name: str) -> bytes:
    return f"<!-- fleetload:baseline {name} -->".encode()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _methodology(run: RunData) -> str:
    meta = run.meta
    host = meta.get("host") or {}
    git = meta.get("git") or {}
    date = str(meta.get("started_at") or "")[:10] or "unknown date"
    commit = f"commit `{str(git['commit'])[:12]}`" if git.get("commit") else "no git commit"
    if git.get("dirty"):
        commit += " (dirty)"
    duration = meta.get("duration_s")
    length = f"{float(duration):.0f}s run" if isinstance(duration, int | float) else "run"
    workers = meta.get("workers")
    return (f"Measured {date} at {commit} on {host.get('cpu_model', 'unknown CPU')}, "
            f"{host.get('cpu_count', '?')} cores; {length}"
            + (f", {workers} worker(s)" if workers else "")
            + f", fleetload {host.get('fleetload_version', '?')}.")


def baseline_table(name: str, run: RunData) -> list[str]:
    """The generated lines (no line endings)."""
    lines = ["| scenario | p50 | p95 | p99 | error rate | achieved rate | iterations |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for scenario, sc in run.scenarios.items():
        d: dict[str, Any] = sc.get("http_req_duration") or {}
        lines.append("| " + " | ".join([
            _cell(scenario),
            format_value(d.get("p50"), "ms"), format_value(d.get("p95"), "ms"),
            format_value(d.get("p99"), "ms"),
            format_value(sc.get("http_req_failed_rate"), "rate"),
            format_value(sc.get("iteration_rate"), "/s"),
            f"{float(sc.get('iterations') or 0):,.0f}",
        ]) + " |")
    lines += ["", _methodology(run) + f" Baseline `{name}`."]
    return [scrub_credentials(line) for line in lines]


def _newline(doc: bytes, after_marker: int) -> bytes:
    if doc[after_marker: after_marker + 2] == b"\r\n":
        return b"\r\n"
    if doc[after_marker: after_marker + 1] == b"\n":
        return b"\n"
    return b"\r\n" if b"\r\n" in doc else b"\n"


def publish(doc: bytes, name: str, run: RunData) -> bytes:
    """``doc`` with every ``name`` block replaced by the baseline's table."""
    marker = start_marker(name)
    if marker not in doc:
        raise FleetloadError(f"no marker {marker.decode()} in the document: add it, and "
                             f"{END_MARKER.decode()} after it, where the table should go")
    lines = [line.encode("utf-8") for line in baseline_table(name, run)]
    out, pos = bytearray(), 0
    while (start := doc.find(marker, pos)) >= 0:
        body_start = start + len(marker)
        end = doc.find(END_MARKER, body_start)
        if end < 0:
            raise FleetloadError(f"{marker.decode()} has no closing {END_MARKER.decode()}")
        nl = _newline(doc, body_start)
        out += doc[pos:body_start] + nl + nl.join(lines) + nl
        pos = end
    out += doc[pos:]
    return bytes(out)


def publish_file(path: Path, name: str, run: RunData) -> bool:
    """Rewrite the document in place; returns whether it changed (it is not
    touched at all when nothing changed)."""
    try:
        doc = path.read_bytes()
    except OSError as exc:
        raise FleetloadError(f"cannot read {path}: {exc.strerror}") from None
    new = publish(doc, name, run)
    if new == doc:
        return False
    path.write_bytes(new)
    return True
