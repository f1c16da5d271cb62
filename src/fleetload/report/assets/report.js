/* fleetload HTML report: a small SVG line-chart layer, no dependencies.
 *
 * Reads the chart specs the Python side embedded in #report-data:
 *   {domain: [t0, t1], axes: {name: [t, ...]},
 *    sections: [{title, charts: [{title, unit, axis, series: [{name, values, dash}], note}]}]}
 * and, once everything is drawn, records what it drew on #render-status
 * (data-charts, data-points, data-errors) so a headless browser can check it.
 */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2563eb", "#16a34a", "#ea580c", "#dc2626", "#7c3aed", "#0891b2",
                  "#ca8a04", "#db2777", "#4b5563", "#65a30d"];
  const W = 560, H = 220, M = { l: 56, r: 14, t: 10, b: 26 };
  const status = { charts: 0, points: 0, errors: [] };

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(NS, tag);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function div(tag, cls, text, parent) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== null && text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // Axis ticks at 1, 2 or 5 times a power of ten.
  function ticks(lo, hi, n) {
    const raw = (hi - lo) / n || 1;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    if (out[out.length - 1] < hi) out.push(+(out[out.length - 1] + step).toPrecision(12));
    return out;
  }

  function fmt(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (v === 0) return "0";
    if (unit === "ms") {
      if (v >= 1000) return (v / 1000).toFixed(2) + "s";
      if (v >= 1) return (v >= 100 ? v.toFixed(0) : String(+v.toFixed(2))) + "ms";
      return (v * 1000).toFixed(0) + "µs";
    }
    const a = Math.abs(v);
    const s = a >= 1e9 ? (v / 1e9).toFixed(1) + "G" : a >= 1e6 ? (v / 1e6).toFixed(1) + "M"
      : a >= 1e4 ? (v / 1e3).toFixed(1) + "k" : a >= 100 || Number.isInteger(v) ? v.toFixed(0)
      : String(+v.toPrecision(3));
    return unit && unit !== "" ? s + unit : s;
  }

  function fmtTime(s) {
    if (s < 120) return (+s.toFixed(1)) + "s";
    const m = Math.floor(s / 60), r = Math.round(s % 60);
    if (m < 120) return m + "m" + (r ? String(r).padStart(2, "0") + "s" : "");
    return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0");
  }

  // Nearest index of t in a sorted array.
  function nearest(ts, t) {
    let lo = 0, hi = ts.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (ts[mid] < t) lo = mid; else hi = mid;
    }
    return Math.abs(ts[lo] - t) <= Math.abs(ts[hi] - t) ? lo : hi;
  }

  function lineChart(parent, spec, ts, domain) {
    const box = div("div", "chart", null, parent);
    div("h3", null, spec.title, box);
    const series = spec.series.filter(s => s.values.some(v => v !== null));
    if (!series.length || !ts.length) {
      div("div", "empty", "no data", box);
      return;
    }
    series.forEach((s, k) => { s.color = COLORS[k % COLORS.length]; s.on = true; });
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": spec.title }, box);
    const tip = div("div", "tip", null, box);
    const [t0, t1] = domain[1] > domain[0] ? domain : [domain[0], domain[0] + 1];
    const x = t => M.l + (t - t0) / (t1 - t0) * (W - M.l - M.r);
    let yTop = 1;
    const y = v => H - M.b - v / yTop * (H - M.t - M.b);
    let drawn = 0;

    function draw() {
      while (root.firstChild) root.removeChild(root.firstChild);
      let max = 0;
      for (const s of series) if (s.on) for (const v of s.values) if (v !== null && v > max) max = v;
      const yt = ticks(0, max > 0 ? max : 1, 4);
      yTop = yt[yt.length - 1];
      const grid = svg("g", { class: "grid" }, root), axis = svg("g", { class: "axis" }, root);
      for (const v of yt) {
        svg("line", { x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }, grid);
        svg("text", { x: M.l - 6, y: y(v) + 3, "text-anchor": "end" }, axis).textContent = fmt(v, spec.unit);
      }
      for (const t of ticks(t0, t1, 6)) {
        if (t > t1) continue;
        svg("line", { x1: x(t), x2: x(t), y1: H - M.b, y2: H - M.b + 4 }, axis);
        svg("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, axis).textContent = fmtTime(t);
      }
      svg("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }, axis);
      let count = 0;
      for (const s of series) {
        if (!s.on) continue;
        let d = "", pen = "M";
        s.values.forEach((v, i) => {
          if (v === null || i >= ts.length) { pen = "M"; return; }
          d += `${pen}${x(ts[i]).toFixed(1)},${y(v).toFixed(1)}`;
          pen = "L";
          count++;
        });
        const attrs = { d, fill: "none", stroke: s.color, "stroke-width": 1.6, "stroke-linejoin": "round" };
        if (s.dash) attrs["stroke-dasharray"] = "5 3";
        svg("path", attrs, root);
        // A lone point (one-second run, or a gap) would be invisible as a path.
        if (s.values.filter(v => v !== null).length === 1) {
          const i = s.values.findIndex(v => v !== null);
          svg("circle", { cx: x(ts[i]), cy: y(s.values[i]), r: 2.5, fill: s.color }, root);
        }
      }
      const cursor = svg("line", { y1: M.t, y2: H - M.b, stroke: "#9aa3b0", visibility: "hidden" }, root);
      const overlay = svg("rect", { x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b,
                                   fill: "transparent" }, root);
      overlay.addEventListener("mousemove", ev => {
        const r = root.getBoundingClientRect();
        const t = t0 + ((ev.clientX - r.left) * W / r.width - M.l) / (W - M.l - M.r) * (t1 - t0);
        const i = nearest(ts, t);
        cursor.setAttribute("x1", x(ts[i]));
        cursor.setAttribute("x2", x(ts[i]));
        cursor.setAttribute("visibility", "visible");
        tip.textContent = "";
        div("div", null, "t = " + fmtTime(ts[i]), tip);
        for (const s of series) if (s.on) div("div", null, `${s.name}: ${fmt(s.values[i], spec.unit)}`, tip);
        tip.style.display = "block";
        const left = ev.clientX - box.getBoundingClientRect().left;
        tip.style.left = (left > box.clientWidth / 2 ? left - tip.offsetWidth - 12 : left + 12) + "px";
        tip.style.top = "30px";
      });
      overlay.addEventListener("mouseleave", () => {
        cursor.setAttribute("visibility", "hidden");
        tip.style.display = "none";
      });
      return count;
    }

    drawn = draw();
    const legend = div("div", "legend", null, box);
    for (const s of series) {
      const item = div("span", null, null, legend);
      const swatch = div("i", null, null, item);
      swatch.style.background = s.color;
      item.appendChild(document.createTextNode(s.name));
      item.title = "show / hide";
      item.addEventListener("click", () => {
        s.on = !s.on;
        item.classList.toggle("off", !s.on);
        draw();
      });
    }
    if (spec.note) div("div", "note", spec.note, box);
    status.charts += 1;
    status.points += drawn;
  }

  function main() {
    const data = JSON.parse(document.getElementById("report-data").textContent);
    const root = document.getElementById("charts");
    for (const section of data.sections) {
      if (!section.charts.length) continue;
      div("h2", null, section.title, root);
      const grid = div("div", "charts", null, root);
      for (const spec of section.charts) lineChart(grid, spec, data.axes[spec.axis] || [], data.domain);
    }
  }

  window.addEventListener("error", ev => { status.errors.push(String(ev.message)); });
  try {
    main();
  } catch (err) {
    status.errors.push(String(err));
    console.error("fleetload report:", err);
  } finally {
    const marker = document.getElementById("render-status");
    marker.dataset.charts = String(status.charts);
    marker.dataset.points = String(status.points);
    marker.dataset.errors = String(status.errors.length);
    marker.textContent = status.errors.length ? "chart errors: " + status.errors.join("; ") : "";
    document.body.dataset.rendered = String(status.charts);
  }
})();
