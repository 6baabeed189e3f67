// taskops page: the task view's chart of its last runs, its success rate, and a batch run's progress bar.
// Plain SVG built in the browser: no library, nothing from elsewhere (the page's CSP allows its own origin only).
// Colours come from style.css classes (a style attribute would need 'unsafe-inline').
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
// How many of a task's runs the chart shows (the newest).
const CHART_RUNS = 30;
const ENDED = new Set(["SUCCEEDED", "PARTIAL_SUCCEEDED", "FAILED", "STOPPED", "INVALID"]);
// The success rate counts runs that ran to an outcome: STOPPED (stopped, skipped, missed, ...) and INVALID
// (never started) say nothing about whether the task works.
const OUTCOMES = new Set(["SUCCEEDED", "PARTIAL_SUCCEEDED", "FAILED"]);

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Seconds a run has taken: start to end, or to now while it runs; null before it started.
function runSeconds(run, now) {
  if (!run.start_at) return null;
  const start = Date.parse(run.start_at);
  const end = run.end_at ? Date.parse(run.end_at) : now;
  return isNaN(start) || isNaN(end) ? null : Math.max(0, (end - start) / 1000);
}

function duration(seconds) {
  if (seconds === null) return "not started";
  if (seconds === 0) return "0 s";
  if (seconds < 60) return (seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)) + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s";
  return Math.floor(seconds / 3600) + " h " + Math.round((seconds % 3600) / 60) + " min";
}

// A tidy upper bound for the axis: 1, 2 or 5 times a power of ten, at least `value`.
function niceCeiling(value) {
  if (value <= 0) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

// { rate: 0..1 or null, succeeded, finished } over the runs that ran to an outcome.
function successRate(runs) {
  const finished = runs.filter((r) => OUTCOMES.has(r.status));
  const succeeded = finished.filter((r) => r.status === "SUCCEEDED").length;
  return { rate: finished.length ? succeeded / finished.length : null, succeeded, finished: finished.length };
}

// The newest CHART_RUNS runs, oldest first.
function chartRuns(runs) {
  return [...runs]
    .sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || "")))
    .slice(0, CHART_RUNS)
    .reverse();
}

// The chart of a task's last runs: one bar per run (height: duration; colour: outcome; a ring and the count
// above a run that was retried), each a link to the run, and the success rate beside it.
function runChart(allRuns, now = Date.now()) {
  const runs = chartRuns(allRuns);
  const { rate, succeeded, finished } = successRate(runs);
  const rateText = rate === null ? "– (no finished runs yet)"
    : Math.round(rate * 100) + "% (" + succeeded + " of " + finished + " finished runs succeeded)";
  const width = 640, height = 200, left = 56, right = 8, top = 22, bottom = 24;
  const plotW = width - left - right, plotH = height - top - bottom;
  const seconds = runs.map((r) => runSeconds(r, now));
  const top_ = niceCeiling(Math.max(0, ...seconds.filter((s) => s !== null)));
  const slot = plotW / Math.max(runs.length, 10);
  const barW = Math.max(4, Math.min(40, slot * 0.7));
  const titleId = "run-chart-title", descId = "run-chart-desc";
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "run-chart", role: "img",
    "aria-labelledby": titleId, "aria-describedby": descId, id: "run-chart-svg" },
  svg("title", { id: titleId }, "Duration of the last " + runs.length + " runs, coloured by outcome"),
  svg("desc", { id: descId }, "Success rate " + rateText + ". " + runs.map((r, i) =>
    r.id + ": " + r.status + ", " + duration(seconds[i]) + (r.retry_attempt ? ", " + r.retry_attempt + " retries" : "")).join("; ")));
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotH - fraction * plotH;
    chart.append(svg("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }),
      svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, duration(fraction * top_)));
  }
  chart.append(svg("text", { x: left, y: height - 6, class: "axis" }, "older"),
    svg("text", { x: width - right, y: height - 6, class: "axis", "text-anchor": "end" }, "newer"));
  runs.forEach((run, i) => {
    const s = seconds[i];
    const h = s === null ? 2 : Math.max(2, (s / top_) * plotH);
    const x = left + i * slot + (slot - barW) / 2;
    const y = top + plotH - h;
    const retries = run.retry_attempt || 0;
    const label = run.id + ": " + run.status + (run.end_reason ? " (" + run.end_reason + ")" : "") + ", " +
      duration(s) + (retries ? ", " + retries + (retries === 1 ? " retry" : " retries") : "");
    const link = svg("a", { href: "#/executions/" + encodeURIComponent(run.id), class: "bar-link",
      "data-run": run.id, "data-status": run.status, "data-seconds": s === null ? "" : s.toFixed(1),
      "data-retries": retries, "aria-label": label },
    svg("title", {}, label),
    svg("rect", { x, y, width: barW, height: h, rx: 2, class: "bar " + run.status + (ENDED.has(run.status) ? "" : " live") }));
    if (retries) {
      link.append(svg("circle", { cx: x + barW / 2, cy: y - 8, r: 5, class: "retry-mark" }),
        svg("text", { x: x + barW / 2, y: y - 15, class: "retry-count", "text-anchor": "middle" }, "↻" + retries));
    }
    chart.append(link);
  });
  if (!runs.length) chart.append(svg("text", { x: left + plotW / 2, y: top + plotH / 2, class: "axis", "text-anchor": "middle" }, "No runs yet"));
  const legend = document.createElement("ul");
  legend.className = "chart-legend";
  for (const [status, text] of [["SUCCEEDED", "succeeded"], ["PARTIAL_SUCCEEDED", "partly succeeded"],
    ["FAILED", "failed"], ["STOPPED", "stopped or invalid"], ["RUNNING", "not ended"]]) {
    const item = document.createElement("li");
    item.append(svg("svg", { viewBox: "0 0 10 10", class: "swatch", "aria-hidden": "true" },
      svg("rect", { width: 10, height: 10, class: "bar " + status })), text);
    legend.append(item);
  }
  const retryItem = document.createElement("li");
  retryItem.append(svg("svg", { viewBox: "0 0 10 10", class: "swatch", "aria-hidden": "true" },
    svg("circle", { cx: 5, cy: 5, r: 4, class: "retry-mark" })), "retried (↻ count)");
  legend.append(retryItem);
  const rateLine = document.createElement("p");
  rateLine.id = "success-rate";
  rateLine.className = "success-rate";
  rateLine.dataset.rate = rate === null ? "" : String(Math.round(rate * 100));
  const strong = document.createElement("strong");
  strong.textContent = "Success rate: ";
  rateLine.append(strong, rateText);
  const figure = document.createElement("figure");
  figure.id = "run-chart";
  figure.className = "chart";
  figure.append(rateLine, chart, legend);
  return figure;
}

// A batch run's progress (status.batch: total, succeeded, failed, running) as a bar, or null for other runs.
function batchProgress(run) {
  const b = run.batch;
  if (!b || !b.total) return null;
  const total = b.total, ok = b.succeeded || 0, bad = b.failed || 0, busy = b.running || 0;
  const done = ok + bad;
  const text = done + "/" + total + " done" + (bad ? ", " + bad + " failed" : "") + (busy ? ", " + busy + " running" : "");
  const bar = svg("svg", { viewBox: "0 0 100 6", preserveAspectRatio: "none", class: "progress-bar", "aria-hidden": "true" },
    svg("rect", { width: 100, height: 6, class: "progress-rest" }));
  let x = 0;
  for (const [count, cls] of [[ok, "progress-succeeded"], [bad, "progress-failed"], [busy, "progress-running"]]) {
    const w = Math.min(100 - x, (100 * count) / total);
    if (w > 0) bar.append(svg("rect", { x, width: w, height: 6, class: cls }));
    x += w;
  }
  const box = document.createElement("div");
  box.className = "batch-progress";
  box.setAttribute("role", "progressbar");
  box.setAttribute("aria-valuemin", "0");
  box.setAttribute("aria-valuemax", String(total));
  box.setAttribute("aria-valuenow", String(done));
  box.setAttribute("aria-valuetext", text);
  box.dataset.succeeded = String(ok);
  box.dataset.failed = String(bad);
  box.dataset.running = String(busy);
  box.dataset.total = String(total);
  const label = document.createElement("span");
  label.className = "progress-label";
  label.textContent = text;
  box.append(bar, label);
  return box;
}
