"""The live dashboard's page: the run's table, progress and stop button,
drawn from the latest event when the page loads, then redrawn from the
Server-Sent Events that :mod:`~fleetload.outputs.dashboard_server` sends.

The page reuses the HTML report's chart layer and styles
(``report/assets/report.js``, ``report.css``): every event carries the same
chart specs as the report (:func:`fleetload.report.html.chart_data`) and the
page redraws them with ``report.js``. The stop button sends the page's
token.
"""

from __future__ import annotations

import html
from importlib import resources

from fleetload.outputs.dashboard_state import DashboardState

_PAGE_JS = """
"use strict";
(function () {
  const $ = id => document.getElementById(id);
  const token = document.body.dataset.token;
  const reportCode = $("report-js").textContent;
  let updates = 0;
  function show(d) {
    $("clock").textContent = d.clock;
    $("rate").textContent = d.rate;
    $("progress").value = d.progress;
    const body = $("scenarios");
    body.textContent = "";
    for (const row of d.scenarios) {
      const tr = document.createElement("tr");
      for (const text of row) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    $("report-data").textContent = JSON.stringify(d.charts);
    $("charts").textContent = "";
    new Function(reportCode)();
    if (d.finished) {
      $("state").textContent = d.finished;
      $("stop").disabled = true;
    }
    document.body.dataset.updates = String(++updates);
  }
  const initial = $("initial-event").textContent;
  if (initial) show(JSON.parse(initial));
  const events = new EventSource("events");
  events.onmessage = ev => {
    const d = JSON.parse(ev.data);
    show(d);
    if (d.finished) events.close();
  };
  $("stop").addEventListener("click", () => {
    $("stop").disabled = true;
    fetch("stop", {method: "POST", headers: {"X-Fleetload-Token": token}})
      .then(r => { $("state").textContent = r.ok ? "stopping gracefully..." : "stop refused"; });
  });
})();
"""


def _asset(name: str) -> str:
    return resources.files("fleetload.report").joinpath("assets", name).read_text(encoding="utf-8")


def page(state: DashboardState) -> str:
    esc = html.escape
    columns = "".join(f"<th>{c}</th>" for c in ("scenario", "rate", "p95", "p99 corrected",
                                                 "failed", "dropped", "in flight"))
    # The latest event, so the page shows the run at once (before its first event).
    initial = state.event()[1] if state.version else ""
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>fleetload {esc(state.run_id)} — live</title>"
        f"<style>{_asset('report.css')}"
        " progress{width:24em} #controls{margin:.6em 0} #state{margin-left:1em}</style></head>"
        f'<body data-token="{esc(state.token)}"><header><h1>fleetload run {esc(state.run_id)}'
        f'</h1><div class=sub>{esc(state.source)} — <span id="clock">starting</span> — '
        '<span id="rate"></span></div></header><main>'
        '<div id="controls"><progress id="progress" max="1" value="0"></progress>'
        '<button id="stop" type="button">Stop the run</button><span id="state"></span></div>'
        f'<table><thead><tr>{columns}</tr></thead><tbody id="scenarios"></tbody></table>'
        '<div id="charts"></div><div id="render-status" class="bad"></div></main>'
        f'<script type="application/json" id="initial-event">{initial}</script>'
        '<script type="application/json" id="report-data">{"domain":[0,1],"axes":{},'
        '"sections":[]}</script>'
        f'<script type="text/plain" id="report-js">{_asset("report.js")}</script>'
        f"<script>{_PAGE_JS}</script>"
        "<footer>fleetload live dashboard</footer></body></html>\n")
