// taskops manual-runs page: vanilla JS, no build step. Every piece of data comes from the JSON API with the
// signed-in user's own Kubernetes bearer token (kept in sessionStorage only).
"use strict";

const TOKEN = "taskops.token";
const NAMESPACE = "taskops.namespace";
const main = document.getElementById("main");

// --- helpers -------------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function when(value) {
  if (!value) return "–";
  const d = new Date(value);
  return isNaN(d) ? String(value) : d.toLocaleString();
}

function badge(value) {
  return h("span", { class: "badge " + (value || "") }, value || "–");
}

function show(title, ...content) {
  main.replaceChildren(h("h1", { id: "page-title" }, title), ...content);
  document.title = title + " – taskops";
  main.focus();
}

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || "HTTP " + status);
    this.status = status;
    this.problem = problem || {};
  }
}

function session() {
  return { token: sessionStorage.getItem(TOKEN), namespace: sessionStorage.getItem(NAMESPACE) };
}

async function api(method, path, { query = {}, body, text = false } = {}) {
  const { token, namespace } = session();
  const url = new URL(path, location.origin);
  url.searchParams.set("namespace", namespace || "");
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { Authorization: "Bearer " + token, Accept: text ? "text/plain" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!resp.ok) {
    let problem = null;
    try { problem = await resp.json(); } catch (_) { problem = { title: resp.statusText }; }
    throw new ApiError(resp.status, problem);
  }
  if (resp.status === 204) return null;
  return text ? resp.text() : resp.json();
}

// A 401 (the token expired or was revoked) sends the user back to sign-in with the problem's detail; → whether so.
function signedOut(err) {
  if (!(err instanceof ApiError && err.status === 401)) return false;
  signOut(err.message);
  return true;
}

// An error from the API, shown in `where` (or below the view); a 401 signs out.
function failed(err, where) {
  if (signedOut(err)) return;
  const box = where || h("p", { class: "alert", role: "alert" });
  box.textContent = err.message;
  if (!where) main.append(box);
}

// A view's data could not be read again: what it shows stays, marked as possibly out of date (the next connect
// reads again); with nothing shown yet, the error is.
function stale(err, box) {
  if (!box.childElementCount) { failed(err, box.appendChild(h("p", { class: "alert", role: "alert" }))); return; }
  if (signedOut(err)) return;
  document.getElementById("live").textContent = "may be out of date: " + err.message;
}

// --- the live Run stream (server-sent events) ----------------------------------------------------
// Read with fetch(), not EventSource: EventSource cannot send the Authorization header, and a token in a
// URL ends up in logs. The API ends a stream with an `end` event when the token or the access is gone
// (401/403: stop) or after its maximum duration (reconnect).
//
// A stream carries only what changes after it connected. So whatever changed while there was none (between its
// maximum duration and the reconnect, a lost connection, a reader the API dropped for falling behind) is read
// again: the view shown re-reads its data on every connect, the way an informer lists again after its watch ended.

const live = { controller: null, view: null };
const STREAM_BUFFER_MAX = 4 * 1024 * 1024;
// Changes held while a view re-reads; past this many, they are dropped and it reads once more instead.
const HELD_MAX = 5000;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// One SSE block ("event: x\ndata: ...") as { event, data }.
function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return { event, data: data.join("\n") };
}

// Reads the stream until it ends; returns the payload of its `end` event, if it sent one.
async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return null;
    buffer += value.replace(/\r\n?/g, "\n");
    if (buffer.length > STREAM_BUFFER_MAX) throw new Error("event too large");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const { event, data } = parseBlock(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event === "run") {
        deliver(JSON.parse(data));
      } else if (event === "end") {
        reader.cancel().catch(() => {});
        return JSON.parse(data);
      }
    }
  }
}

function connectEvents() {
  disconnectEvents();
  const { token, namespace } = session();
  const controller = new AbortController();
  live.controller = controller;
  const status = document.getElementById("live");
  const url = new URL("/api/v1/runs/events", location.origin);
  url.searchParams.set("namespace", namespace);
  url.searchParams.set("view", "execution"); // seed 000's executions: the words this page speaks
  (async () => {
    let delay = 3000;
    while (!controller.signal.aborted) {
      let ended = null;
      try {
        const resp = await fetch(url, {
          headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
          cache: "no-store",
          signal: controller.signal,
        });
        if (!resp.ok) {
          let problem = null;
          try { problem = await resp.json(); } catch (_) { problem = { title: resp.statusText }; }
          ended = { status: resp.status, detail: new ApiError(resp.status, problem).message };
        } else {
          status.textContent = "● live";
          delay = 3000;
          // The API listens for this stream's changes before it answers: what the view reads now misses nothing.
          if (live.view) reread(live.view);
          ended = await readEvents(resp.body);
        }
      } catch (_) {
        if (controller.signal.aborted) return;
      }
      if (ended && ended.status === 401) { signOut(ended.detail); return; }
      if (ended && ended.status === 403) { status.textContent = "updates stopped: " + ended.detail; return; }
      status.textContent = "reconnecting…";
      // Jittered: the pages whose streams ended together (an API restart, a Kubernetes API hiccup that ends every
      // stream with a 503) do not all reconnect, and read their views again, in the same instant.
      await sleep(delay * (0.5 + Math.random()), controller.signal);
      delay = Math.min(delay * 2, 60000);
    }
  })();
}

function disconnectEvents() {
  if (live.controller) live.controller.abort();
  live.controller = null;
  live.view = null;
}

// The view shown follows the stream (one at a time): `listener` gets each change; `read` reads what the view
// shows afresh (and shows its own errors), now and on every connect. Changes that arrive while it reads are
// applied after it, in order, so the newest state is the one left on the page.
function follow(listener, read) {
  const view = { listener, read, held: null, again: false };
  live.view = view;
  return reread(view);
}

function deliver(run) {
  const view = live.view;
  if (!view) return;
  if (!view.held) { view.listener(run); return; }
  if (view.held.length < HELD_MAX) { view.held.push(run); return; }
  view.held = [];
  view.again = true;
}

async function reread(view) {
  if (view.held) { view.again = true; return; } // a read is under way: it may predate this connect, so once more
  do {
    view.again = false;
    view.held = [];
    try { await view.read(); } catch (_) { /* the view showed it */ }
    const held = view.held;
    view.held = null;
    if (live.view !== view) return;
    for (const run of held) view.listener(run);
  } while (view.again);
}

// --- sign-in -------------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  disconnectEvents();
  stopLog();
  renderSignIn(message);
}

function renderSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  const alert = h("p", { class: "alert", role: "alert", id: "signin-error" }, message || "");
  const token = h("input", { id: "token", name: "token", type: "password", required: true, autocomplete: "off",
    "aria-describedby": "token-help" });
  const ns = h("input", { id: "namespace", name: "namespace", type: "text", required: true, autocomplete: "on",
    value: sessionStorage.getItem(NAMESPACE) || "default" });
  const form = h("form", { class: "stack", id: "signin", novalidate: true },
    alert,
    h("div", { class: "field" }, h("label", { for: "token" }, "Kubernetes bearer token"), token,
      h("span", { class: "help", id: "token-help" },
        "For example from: kubectl create token <service-account>. Kept in this tab only.")),
    h("div", { class: "field" }, h("label", { for: "namespace" }, "Namespace"), ns),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "signin-submit" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!token.value.trim() || !ns.value.trim()) {
      alert.textContent = "Enter a token and a namespace.";
      return;
    }
    sessionStorage.setItem(TOKEN, token.value.trim());
    sessionStorage.setItem(NAMESPACE, ns.value.trim());
    try {
      await api("GET", "/api/v1/tasks", { query: { limit: 1 } });
    } catch (err) {
      sessionStorage.removeItem(TOKEN);
      alert.textContent = err.message;
      return;
    }
    if (!location.hash.startsWith("#/") || location.hash === "#/signin") history.replaceState(null, "", "#/tasks");
    disconnectEvents(); // a stream opened with another token or namespace follows them no more
    route();
  });
  main.replaceChildren(h("div", { class: "signin" }, h("h1", { id: "page-title" }, "Sign in"), form));
  document.title = "Sign in – taskops";
  token.focus();
}

// --- tasks ---------------------------------------------------------------------------------------

function schedule(task) {
  if (!task.schedule_kind) return "manual";
  return task.schedule_kind + (task.schedule_expr ? " " + task.schedule_expr : "");
}

async function renderTasks() {
  const state = new URLSearchParams(location.hash.split("?")[1] || "").get("state") || "";
  const filter = h("select", { id: "state-filter" },
    ["", "active", "paused", "canceled"].map((s) => h("option", { value: s, selected: s === state }, s || "all")));
  filter.addEventListener("change", () => { location.hash = "#/tasks" + (filter.value ? "?state=" + filter.value : ""); });
  const body = h("tbody");
  const table = h("table", { id: "tasks" },
    h("caption", { class: "help" }, "Tasks in this namespace"),
    h("thead", {}, h("tr", {}, ["Name", "Schedule", "State", "Last run", "Next run"].map((c) => h("th", { scope: "col" }, c)))),
    body);
  show("Tasks", h("div", { class: "toolbar" },
    h("div", { class: "field" }, h("label", { for: "state-filter" }, "State"), filter)), table);
  try {
    const [tasks, runs] = await Promise.all([
      api("GET", "/api/v1/tasks", { query: { status: state, limit: 1000 } }),
      api("GET", "/api/v1/runs", { query: { sort: "-created_at", limit: 100 } }).catch(() => ({ items: [] })),
    ]);
    const lastRun = {};
    for (const run of runs.items) if (!lastRun[run.task_name]) lastRun[run.task_name] = run.created_at;
    if (!tasks.items.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "notice" }, "No tasks.")));
    for (const task of tasks.items) {
      body.append(h("tr", {},
        h("td", {}, h("a", { href: "#/tasks/" + encodeURIComponent(task.name) }, task.name),
          task.title ? h("div", { class: "help" }, task.title) : null),
        h("td", {}, h("code", {}, schedule(task))),
        h("td", {}, badge(task.status)),
        h("td", {}, when(lastRun[task.name] || task.last_schedule_time)),
        h("td", {}, when(task.next_run_at))));
    }
  } catch (err) { failed(err); }
}

// Executions (seed 000's shape: GET /api/v1/integrations/executions and the event stream's view=execution),
// so the status is seed 000's word: pending, queued, running, succeeded, failed, aborted.
function runsTable(id, runs, withTask) {
  const body = h("tbody");
  const cols = ["Execution", ...(withTask ? ["Task"] : []), "Status", "Agent", "Created", "Finished", "Exit code"];
  const rows = new Map();
  const shown = new Map(); // what each row shows, so a run read again unchanged leaves its row alone
  function row(run) {
    return h("tr", { "data-run": run.id },
      h("td", {}, h("a", { href: "#/executions/" + encodeURIComponent(run.id) }, run.id)),
      withTask ? h("td", {}, run.task_name) : null,
      h("td", { class: "status" }, badge(run.status), batchProgress(run)),
      h("td", {}, run.agent_id || "–"),
      h("td", {}, when(run.created_at)),
      h("td", {}, when(run.finished_at)),
      h("td", {}, run.exit_code ?? "–"));
  }
  function upsert(run, atTop) {
    const old = rows.get(run.id);
    if (run.event_type === "DELETED") { if (old) old.remove(); rows.delete(run.id); shown.delete(run.id); return; }
    const { event_type: _, ...state } = run;
    const key = JSON.stringify(state);
    if (old && shown.get(run.id) === key) return;
    const fresh = row(run);
    if (old) old.replaceWith(fresh);
    else if (atTop) body.prepend(fresh);
    else body.append(fresh);
    rows.set(run.id, fresh);
    shown.set(run.id, key);
  }
  // Brings the table to `runs` read afresh (newest first): rows of runs no longer listed go, new ones go on top,
  // and rows that did not change are left as they are.
  function sync(fresh) {
    const listed = new Set(fresh.map((r) => r.id));
    for (const [runId, tr] of rows) if (!listed.has(runId)) { tr.remove(); rows.delete(runId); shown.delete(runId); }
    [...fresh].reverse().forEach((r) => upsert(r, true));
  }
  runs.forEach((r) => upsert(r, false));
  const table = h("table", { id },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))), body);
  return { table, upsert, sync, has: (runId) => rows.has(runId) };
}

async function renderTask(name) {
  show("Task " + name);
  let task;
  try {
    task = await api("GET", "/api/v1/tasks/" + encodeURIComponent(name));
  } catch (err) { failed(err); return; }
  const spec = task.spec || {};
  const runButton = h("button", { type: "button", id: "run-task", "aria-expanded": "false",
    "aria-controls": "run-panel" }, "Run…");
  const panel = h("section", { id: "run-panel", class: "panel", hidden: true, "aria-labelledby": "run-title" });
  runButton.addEventListener("click", () => {
    const open = panel.hidden;
    panel.hidden = !open;
    runButton.setAttribute("aria-expanded", String(open));
    if (open) { panel.replaceChildren(...runForm(task)); panel.querySelector("input, select, textarea, button").focus(); }
  });
  const facts = h("dl", { class: "facts", id: "task-facts" },
    h("dt", {}, "Name"), h("dd", {}, task.name),
    h("dt", {}, "Title"), h("dd", {}, task.title || "–"),
    h("dt", {}, "Description"), h("dd", {}, task.description || "–"),
    h("dt", {}, "State"), h("dd", {}, badge(task.status)),
    h("dt", {}, "Schedule"), h("dd", {}, h("code", {}, schedule(task)), " (" + task.timezone + ")"),
    h("dt", {}, "Next run"), h("dd", {}, when(task.next_run_at)),
    h("dt", {}, "Default agent"), h("dd", {}, spec.agent || "–"),
    h("dt", {}, "Version"), h("dd", {}, task.version ?? "–"),
    h("dt", {}, "Params"), h("dd", {}, (spec.params || []).map((p) => p.name + ": " + p.type).join(", ") || "none"));
  const versions = h("tbody");
  const recent = h("div", { id: "recent-runs" });
  const chart = h("div", { id: "chart-box" });
  main.append(facts, h("div", { class: "actions", style: null }, runButton), panel,
    h("h2", {}, "Last runs"), chart,
    h("h2", {}, "Recent executions"), recent,
    h("h2", {}, "Versions"),
    h("table", { id: "versions" }, h("thead", {}, h("tr", {}, ["Version", "Id", "Created"].map((c) => h("th", { scope: "col" }, c)))), versions));
  if (task.status === "canceled") { runButton.disabled = true; runButton.title = "A canceled task runs no more"; }
  api("GET", "/api/v1/tasks/" + encodeURIComponent(name) + "/versions").then((vs) => {
    for (const v of vs.items) versions.append(h("tr", {}, h("td", {}, v.number), h("td", {}, h("code", {}, v.id)), h("td", {}, when(v.created_at))));
    if (!vs.items.length) versions.append(h("tr", {}, h("td", { colspan: 3, class: "notice" }, "No version written yet.")));
  }, (err) => failed(err));
  // The table speaks seed 000's words (executions); the chart reads runs (their steps, times and retries). The
  // chart follows the same live stream as the table (charts.js); the stream speaks in executions, so a changed
  // one is read again as a run.
  let t = null;
  let charted = new Map();
  let drawn = null;
  const redraw = () => {
    const key = JSON.stringify([...charted.values()]);
    if (key !== drawn) { drawn = key; chart.replaceChildren(runChart([...charted.values()])); }
  };
  follow(async (execution) => {
    if (!t || execution.task_name !== task.name) return;
    t.upsert(execution, true);
    if (execution.event_type === "DELETED") { charted.delete(execution.id); redraw(); return; }
    try {
      charted.set(execution.id, await api("GET", "/api/v1/runs/" + encodeURIComponent(execution.id)));
      redraw();
    } catch (err) { /* deleted meanwhile: its DELETED event follows */ }
  }, async () => {
    try {
      const [executions, runs] = await Promise.all([
        api("GET", "/api/v1/integrations/executions", { query: { task_id: task.name, sort: "-created_at", limit: 10 } }),
        api("GET", "/api/v1/runs", { query: { task_name: task.name, sort: "-created_at", limit: CHART_RUNS } }),
      ]);
      if (t) t.sync(executions.items);
      else { t = runsTable("task-runs", executions.items, false); recent.replaceChildren(t.table); }
      charted = new Map(runs.items.map((r) => [r.id, r]));
      redraw();
    } catch (err) { stale(err, recent); }
  });
}

// --- the run form --------------------------------------------------------------------------------

function paramField(p) {
  const id = "param-" + p.name;
  const errId = id + "-error";
  const helpId = id + "-help";
  const described = [p.description || p.type === "json" ? helpId : null, errId].filter(Boolean).join(" ");
  const common = { id, name: p.name, "aria-describedby": described, required: !!p.required, "data-type": p.type };
  let input;
  if (p.enum && p.type !== "json") {
    input = h("select", common,
      p.required ? null : h("option", { value: "" }, "(default)"),
      p.enum.map((v) => h("option", { value: JSON.stringify(v), selected: JSON.stringify(v) === JSON.stringify(p.default) }, String(v))));
  } else if (p.type === "boolean") {
    input = h("input", { ...common, type: "checkbox", checked: p.default === true });
  } else if (p.type === "integer" || p.type === "number") {
    input = h("input", { ...common, type: "number", step: p.type === "integer" ? "1" : "any", inputmode: p.type === "integer" ? "numeric" : "decimal",
      value: p.default ?? "" });
  } else if (p.type === "json") {
    input = h("textarea", { ...common, spellcheck: "false" });
    input.value = p.default === null || p.default === undefined ? "" : JSON.stringify(p.default);
  } else {
    input = h("input", { ...common, type: "text", value: p.default ?? "" });
  }
  const help = [p.description, p.type === "json" ? "JSON value" + (p.enum ? "; one of " + p.enum.map((v) => JSON.stringify(v)).join(", ") : "") : null]
    .filter(Boolean).join(". ");
  return h("div", { class: "field" + (p.type === "boolean" && !p.enum ? " check" : "") },
    h("label", { for: id }, p.name, p.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null,
      p.required ? h("span", { class: "skip" }, " (required)") : null),
    input,
    help ? h("span", { class: "help", id: helpId }, help) : null,
    h("span", { class: "error", id: errId, "aria-live": "polite" }));
}

function setError(form, fieldId, message) {
  const input = form.querySelector("#" + CSS.escape(fieldId));
  const box = form.querySelector("#" + CSS.escape(fieldId + "-error"));
  if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
  if (box) box.textContent = message || "";
}

// The params as JSON values, and the client-side errors (required, numbers, JSON syntax).
function collect(form, params) {
  const values = {};
  const errors = {};
  for (const p of params) {
    const input = form.querySelector("#" + CSS.escape("param-" + p.name));
    if (input.type === "checkbox") { values[p.name] = input.checked; continue; }
    const raw = input.value.trim();
    if (raw === "") {
      if (p.required) errors[p.name] = "required";
      continue;
    }
    if (input.tagName === "SELECT") { values[p.name] = JSON.parse(raw); continue; }
    if (p.type === "integer") {
      if (!/^-?\d+$/.test(raw)) errors[p.name] = "must be a whole number";
      else values[p.name] = Number(raw);
    } else if (p.type === "number") {
      if (raw === "" || isNaN(Number(raw))) errors[p.name] = "must be a number";
      else values[p.name] = Number(raw);
    } else if (p.type === "json") {
      try { values[p.name] = JSON.parse(raw); } catch (_) { errors[p.name] = "must be valid JSON"; }
    } else {
      values[p.name] = input.value;
    }
  }
  return { values, errors };
}

function runForm(task) {
  const spec = task.spec || {};
  const params = spec.params || [];
  const alert = h("p", { class: "alert", role: "alert", id: "run-error" });
  // The agent picker: the agents this token may queue runs for (GET /api/v1/agents?usable=true), filled in
  // when they arrive; a free-text field when the token may not list agents.
  let agent = h("select", { id: "agent", name: "agent", "aria-describedby": "agent-help agent-error", "aria-busy": "true" },
    h("option", { value: spec.agent || "" }, spec.agent || "loading agents…"));
  const agentHelp = h("span", { class: "help", id: "agent-help" }, "The agent that should execute the run.");
  const submit = h("button", { type: "submit", id: "run-submit" }, "Queue execution");
  const cancel = h("button", { type: "button", class: "secondary", id: "run-cancel" }, "Cancel");
  const form = h("form", { class: "stack", id: "run-form", novalidate: true },
    alert,
    h("div", { class: "field" }, h("label", { for: "agent" }, "Agent"), agent, agentHelp,
      h("span", { class: "error", id: "agent-error" })),
    params.length ? params.map(paramField) : h("p", { class: "notice" }, "This task takes no params."),
    h("div", { class: "actions" }, submit, cancel));
  cancel.addEventListener("click", () => { document.getElementById("run-task").click(); });
  api("GET", "/api/v1/agents", { query: { usable: "true", limit: 1000 } }).then((agents) => {
    const names = agents.items.map((a) => a.name);
    const none = spec.agent && !names.includes(spec.agent)
      ? "The task's agent (" + spec.agent + ")" : spec.agent ? null : "No agent";
    const picker = h("select", { id: "agent", name: "agent", "aria-describedby": "agent-help agent-error" },
      none ? h("option", { value: "" }, none) : null,
      agents.items.map((a) => h("option", { value: a.name, selected: a.name === spec.agent },
        a.name + " — running " + a.running + "/" + a.capacity + ", queued " + a.queued)));
    agent.replaceWith(picker);
    agent = picker;
    agentHelp.textContent = agents.items.length
      ? "The agent that should execute the run: those you may use, with what they run now."
      : "There is no agent you may use in this namespace.";
  }).catch((err) => {
    if (signedOut(err)) return;
    const text = h("input", { id: "agent", name: "agent", type: "text", value: spec.agent || "",
      "aria-describedby": "agent-help agent-error" });
    agent.replaceWith(text);
    agent = text;
    agentHelp.textContent = "Type the agent's name (the list of agents is not available: " + err.message + ").";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    setError(form, "agent", "");
    params.forEach((p) => setError(form, "param-" + p.name, ""));
    const { values, errors } = collect(form, params);
    const names = Object.keys(errors);
    if (names.length) {
      names.forEach((n) => setError(form, "param-" + n, errors[n]));
      alert.textContent = "Please correct the marked fields.";
      form.querySelector("#" + CSS.escape("param-" + names[0])).focus();
      return;
    }
    // A run queued from this page is a manual run (seed 000), recorded as triggered_by: manual.
    const body = { task_id: task.name, params: values, triggered_by: "manual" };
    if (agent.value.trim()) body.agent_id = agent.value.trim();
    submit.disabled = true;
    try {
      const execution = await api("POST", "/api/v1/integrations/executions", { body });
      location.hash = "#/executions/" + encodeURIComponent(execution.id);
    } catch (err) {
      if (signedOut(err)) return;
      let first = null;
      const other = [];
      for (const e of err.problem.errors || []) {
        const loc = e.location || "";
        let fieldId = null;
        if (loc.startsWith("body.params.")) fieldId = "param-" + loc.slice("body.params.".length);
        else if (loc === "body.agent_id") fieldId = "agent";
        if (fieldId && form.querySelector("#" + CSS.escape(fieldId))) {
          setError(form, fieldId, e.message);
          first = first || fieldId;
        } else {
          other.push((loc ? loc + ": " : "") + e.message);
        }
      }
      alert.textContent = [err.message, ...other].join(" — ");
      if (first) form.querySelector("#" + CSS.escape(first)).focus();
    } finally {
      submit.disabled = false;
    }
  });
  return [h("h2", { id: "run-title" }, "Run " + task.name), form];
}

// --- executions ----------------------------------------------------------------------------------

const EXECUTION_STATUSES = ["pending", "queued", "running", "succeeded", "failed", "aborted"];

async function renderExecutions() {
  const status = new URLSearchParams(location.hash.split("?")[1] || "").get("status") || "";
  const filter = h("select", { id: "status-filter" },
    ["", ...EXECUTION_STATUSES].map((s) => h("option", { value: s, selected: s === status }, s || "all")));
  filter.addEventListener("change", () => { location.hash = "#/executions" + (filter.value ? "?status=" + filter.value : ""); });
  show("Executions", h("p", { class: "help" }, "Status changes appear as they happen."),
    h("div", { class: "toolbar" }, h("div", { class: "field" }, h("label", { for: "status-filter" }, "Status"), filter)));
  const box = h("div", { id: "executions-box" });
  main.append(box);
  let t = null;
  follow((run) => { if (t && (!status || run.status === status || t.has(run.id))) t.upsert(run, true); }, async () => {
    try {
      const runs = await api("GET", "/api/v1/integrations/executions", { query: { status, sort: "-created_at", limit: 50 } });
      if (t) t.sync(runs.items);
      else { t = runsTable("executions", runs.items, true); box.replaceChildren(t.table); }
    } catch (err) { stale(err, box); }
  });
}

// --- the live log -------------------------------------------------------------------------------
// GET /api/v1/runs/{id}/logs?follow=true streams every attempt's pod in order and ends when the run ends. Read
// with fetch() (the token in the Authorization header); the text shown is capped, keeping the newest part.

const LOG_SHOWN_MAX = 512 * 1024;
const logFollow = { controller: null };

function stopLog() {
  if (logFollow.controller) logFollow.controller.abort();
  logFollow.controller = null;
}

// Follows the log into `pre`; `state(text)` shows what the stream is doing. Resolves when the stream ends.
async function followLog(id, index, pre, state) {
  stopLog();
  const controller = new AbortController();
  logFollow.controller = controller;
  const { token, namespace } = session();
  const url = new URL("/api/v1/runs/" + encodeURIComponent(id) + "/logs", location.origin);
  url.searchParams.set("namespace", namespace);
  url.searchParams.set("follow", "true");
  if (index !== null) url.searchParams.set("index", String(index));
  let resp;
  try {
    resp = await fetch(url, { headers: { Authorization: "Bearer " + token, Accept: "text/plain" }, cache: "no-store",
      signal: controller.signal });
  } catch (_) {
    if (!controller.signal.aborted) state("The log could not be read; it is tried again when the execution changes.");
    return "failed";
  }
  if (!resp.ok) {
    let problem = null;
    try { problem = await resp.json(); } catch (_) { problem = { title: resp.statusText }; }
    const err = new ApiError(resp.status, problem);
    if (signedOut(err)) return "failed";
    state(resp.status === 409 ? "No log yet: the execution has no pod." : err.message);
    return "failed";
  }
  pre.textContent = "";
  state("● following the log");
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      let text = pre.textContent + value;
      if (text.length > LOG_SHOWN_MAX) text = "…\n" + text.slice(text.length - LOG_SHOWN_MAX);
      pre.textContent = text;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
  } catch (_) {
    if (controller.signal.aborted) return "stopped";
  }
  if (controller.signal.aborted) return "stopped";
  if (!pre.textContent) pre.textContent = "(empty)";
  return "ended";
}

async function renderExecution(id) {
  show("Execution " + id);
  const facts = h("dl", { class: "facts", id: "execution-facts" });
  const history = h("tbody");
  const result = h("pre", { id: "execution-result" });
  const log = h("pre", { id: "execution-log", tabindex: "0", "aria-label": "Log" });
  const logState = h("span", { class: "help", id: "log-state", role: "status", "aria-live": "polite" });
  const alert = h("p", { class: "alert", role: "alert", id: "execution-error" });
  const abort = h("button", { type: "button", class: "danger", id: "abort", hidden: true }, "Abort");
  const index = h("input", { id: "log-index", type: "number", min: "0", step: "1", value: "0", inputmode: "numeric" });
  const indexField = h("div", { class: "field", hidden: true },
    h("label", { for: "log-index" }, "Input"), index,
    h("span", { class: "help" }, "A batch execution's log is that of one input."));
  main.append(alert, facts, h("div", { class: "actions" }, abort),
    h("h2", {}, "Step history"),
    h("table", { id: "history" }, h("thead", {}, h("tr", {}, ["Time", "Step", "Message"].map((c) => h("th", { scope: "col" }, c)))), history),
    h("h2", {}, "Result"), result,
    h("h2", {}, "Log"), h("div", { class: "toolbar" }, indexField, logState), log);
  let current = null;
  // The log is followed once the execution has started, and again if the stream ended while it still runs (its
  // maximum duration, or a failed read): one follow at a time.
  let following = false;
  let generation = 0;
  let lastHow = null;
  async function startLog() {
    if (following || !current) return;
    const mine = ++generation;
    following = true;
    const batch = current.batch_inputs ? Math.min(Math.max(0, Number(index.value) || 0), current.batch_inputs - 1) : null;
    const how = await followLog(id, batch, log, (text) => { logState.textContent = text; });
    if (mine !== generation) return; // a newer follow replaced this one
    following = false;
    lastHow = how;
    if (how === "ended") {
      logState.textContent = current.is_done ? "End of log: the execution ended." : "The log stream ended; following again…";
      if (!current.is_done) setTimeout(startLog, 1000);
    }
  }
  index.addEventListener("change", () => { generation++; following = false; stopLog(); startLog(); });
  function draw(run) {
    const startedNow = run.started_at && !(current && current.started_at);
    const wasDone = current && current.is_done;
    current = run;
    facts.replaceChildren(
      h("dt", {}, "Status"), h("dd", { id: "execution-status" }, badge(run.status)),
      h("dt", {}, "End reason"), h("dd", {}, run.end_reason || "–"),
      h("dt", {}, "Message"), h("dd", {}, run.message || "–"),
      h("dt", {}, "Task"), h("dd", {}, h("a", { href: "#/tasks/" + encodeURIComponent(run.task_name) }, run.task_name)),
      h("dt", {}, "Agent"), h("dd", { id: "execution-agent" }, run.agent_id || "–"),
      h("dt", {}, "Triggered by"), h("dd", { id: "execution-triggered-by" }, run.triggered_by || "–"),
      h("dt", {}, "Priority"), h("dd", {}, String(run.priority ?? 0)),
      h("dt", {}, "Params"), h("dd", {}, h("code", {}, JSON.stringify(run.params || {}))),
      h("dt", {}, "Created"), h("dd", {}, when(run.created_at)),
      h("dt", {}, "Started"), h("dd", {}, when(run.started_at)),
      h("dt", {}, "Finished"), h("dd", {}, when(run.finished_at)),
      h("dt", {}, "Exit code"), h("dd", { id: "execution-exit-code" }, run.exit_code ?? "–"),
      h("dt", {}, "Attempt"), h("dd", { id: "execution-attempt" }, String(run.attempt || 1)));
    history.replaceChildren(...(run.history || []).map((s) =>
      h("tr", {}, h("td", {}, when(s.time)), h("td", {}, s.step), h("td", {}, s.message || ""))));
    result.textContent = run.result === null || run.result === undefined ? "–" : JSON.stringify(run.result, null, 2);
    indexField.hidden = !run.batch_inputs;
    if (run.batch_inputs) index.max = String(run.batch_inputs - 1);
    // Only an execution still pending, queued or running can be aborted (is_done: it ended).
    abort.hidden = run.is_done;
    if (startedNow || (run.is_done && !wasDone) || (lastHow === "failed" && run.started_at)) startLog();
    else if (!run.started_at && !run.is_done) logState.textContent = "No log yet: the execution has not started.";
  }
  abort.addEventListener("click", async () => {
    abort.disabled = true;
    alert.textContent = "";
    try {
      draw(await api("POST", "/api/v1/integrations/executions/" + encodeURIComponent(id) + "/cancel"));
    } catch (err) {
      failed(err, alert);
    } finally {
      abort.disabled = false;
    }
  });
  follow((run) => { if (run.id === id && run.event_type !== "DELETED") draw(run); }, async () => {
    try {
      draw(await api("GET", "/api/v1/integrations/executions/" + encodeURIComponent(id)));
    } catch (err) { failed(err, alert); }
  });
}

// --- routing -------------------------------------------------------------------------------------

function route() {
  const { token, namespace } = session();
  if (!token || !namespace) { disconnectEvents(); renderSignIn(); return; } // the session is gone: so is its stream
  document.getElementById("nav").hidden = false;
  document.getElementById("who").hidden = false;
  document.getElementById("who-namespace").textContent = namespace;
  if (!live.controller) connectEvents();
  const path = location.hash.replace(/^#/, "").split("?")[0];
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === "#/" + (parts[0] || "tasks")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  live.view = null;
  stopLog();
  if (parts[0] === "executions" && parts[1]) renderExecution(parts[1]);
  else if (parts[0] === "executions") renderExecutions();
  else if (parts[0] === "tasks" && parts[1]) renderTask(parts[1]);
  else renderTasks();
}

document.getElementById("sign-out").addEventListener("click", () => { signOut(""); location.hash = "#/signin"; });
window.addEventListener("hashchange", route);
route();
