"""``fleetload report RUN --serve``: a finished run in the live dashboard's page
(the same app and charts, from its ``timeline.jsonl``), until Ctrl-C."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fleetload.errors import ConfigError
from fleetload.outputs.dashboard_app import listen, make_server
from fleetload.outputs.dashboard_state import DashboardState
from fleetload.results import rundir
from fleetload.results.timeline import read_timeline


def replay_state(run_dir: Path) -> DashboardState:
    """The dashboard's state after the whole run: every interval, then the verdict."""
    state = DashboardState()
    summary = json.loads((run_dir / rundir.SUMMARY).read_text(encoding="utf-8"))
    run = summary.get("run") or {}
    state.run_id = str(run.get("id", run_dir.name))
    state.source = str(run.get("source", ""))
    rows = read_timeline(run_dir / rundir.TIMELINE) if (run_dir / rundir.TIMELINE).is_file() \
        else []
    state.table.planned = float(run.get("elapsed") or (rows[-1]["t"] if rows else 0.0))
    for row in rows:
        state.add_row(row, None)
    state.finish(f"finished: {str(run.get('verdict', 'unknown')).upper()} "
                 f"(exit {run.get('exit_code', '?')})")
    return state


def serve_run(run_dir: Path, host: str, port: int) -> None:
    """Serve the page until interrupted (Ctrl-C or SIGTERM: uvicorn stops gracefully)."""
    state = replay_state(run_dir)
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise ConfigError(f"--serve: cannot listen on {host}:{port}: {exc.strerror or exc}") \
            from None
    where = f"[{host}]" if ":" in host else host
    print(f"fleetload: run {state.run_id} on http://{where}:{port}/ (Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    try:
        make_server(state).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
