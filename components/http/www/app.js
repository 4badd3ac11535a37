// ORGE web entity view: plain JavaScript, no build step, no CDN.
// Talks Home Assistant's WebSocket API; history comes from GET /api/history.
// Every text from the station goes in through textContent, never innerHTML.
"use strict";

const TOKEN_KEY = "orge_token";
const $ = (id) => document.getElementById(id);

const view = {
  ws: null,
  nextId: 1,
  pending: new Map(),   // id -> {resolve, reject}
  states: new Map(),    // entity_id -> state
  platforms: new Map(), // entity_id -> component
  services: {},
  cards: new Map(),     // entity_id -> {root, update}
  retry: 1000,
  signedOut: false,
  ready: false,         // the first snapshot is rendered
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function toast(text, bad) {
  const node = $("toast");
  node.textContent = text;
  node.classList.toggle("bad", !!bad);
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 4000);
}

function setStatus(state) {
  const node = $("status");
  node.dataset.state = state;
  node.textContent = state;
}

// --- sign in and the connection -------------------------------------------------------

function showSignIn(message) {
  $("app").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  setStatus("offline");
}

function signIn(token) {
  localStorage.setItem(TOKEN_KEY, token);
  view.signedOut = false;
  connect();
}

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  view.signedOut = true;
  if (view.ws) view.ws.close();
  showSignIn("");
}

function connect() {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) { showSignIn(""); return; }
  setStatus("connecting");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/websocket`);
  view.ws = ws;
  let authInvalid = false;
  ws.onmessage = (msg) => {
    const data = JSON.parse(msg.data);
    const list = Array.isArray(data) ? data : [data];
    for (const item of list) handle(item, token, () => { authInvalid = true; });
  };
  ws.onclose = () => {
    for (const { reject } of view.pending.values()) reject(new Error("connection closed"));
    view.pending.clear();
    if (view.ws !== ws) return;
    view.ws = null;
    if (authInvalid) {
      localStorage.removeItem(TOKEN_KEY);
      showSignIn("That token was not accepted.");
    } else if (!view.signedOut) {
      setStatus("offline");
      setTimeout(connect, view.retry);
      view.retry = Math.min(view.retry * 2, 30000);
    }
  };
}

function handle(msg, token, onInvalid) {
  if (msg.type === "auth_required") {
    view.ws.send(JSON.stringify({ type: "auth", access_token: token }));
  } else if (msg.type === "auth_invalid") {
    onInvalid();
  } else if (msg.type === "auth_ok") {
    view.retry = 1000;
    setStatus("online");
    start().catch((err) => toast(`Loading failed: ${err.message}`, true));
  } else if (msg.type === "result" && view.pending.has(msg.id)) {
    const { resolve, reject } = view.pending.get(msg.id);
    view.pending.delete(msg.id);
    if (msg.success) resolve(msg.result);
    else reject(new Error(msg.error ? msg.error.message : "failed"));
  } else if (msg.type === "event" && msg.id === view.stateSubscription) {
    const data = msg.event.data;
    stateChanged(data.entity_id, data.new_state);
  }
}

function command(type, fields) {
  return new Promise((resolve, reject) => {
    if (!view.ws || view.ws.readyState !== WebSocket.OPEN) {
      reject(new Error("not connected"));
      return;
    }
    const id = view.nextId++;
    view.pending.set(id, { resolve, reject });
    view.ws.send(JSON.stringify({ id, type, ...fields }));
  });
}

async function callService(domain, service, data) {
  try {
    await command("call_service", { domain, service, service_data: data || {} });
    toast(`${domain}.${service} done`);
  } catch (err) {
    toast(`${domain}.${service}: ${err.message}`, true);
  }
}

async function start() {
  view.ready = false;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  // Subscribe first so no change is missed between the snapshot and the first event.
  const subId = view.nextId;
  const subscribed = command("subscribe_events", { event_type: "state_changed" });
  view.stateSubscription = subId;
  const [config, states, registry, services] = await Promise.all([
    command("get_config"), command("get_states"),
    command("config/entity_registry/list"), command("get_services"), subscribed,
  ]);
  $("title").textContent = config.location_name || "ORGE station";
  document.title = $("title").textContent;
  showConfig(config);
  const problemState = states.find((s) => s.entity_id === PROBLEM_ENTITY);
  showProblems(problemState ? problemState.attributes : {
    mode: config.recovery_mode ? "recovery" : config.using_last_good ? "last_good" : "normal",
    problems: config.config_problems || [],
  });
  view.services = services;
  view.platforms = new Map(registry.map((e) => [e.entity_id, e.platform || "other"]));
  view.states = new Map(states.map((s) => [s.entity_id, s]));
  render();
  view.ready = true;
}

// --- entities ---------------------------------------------------------------------------

function friendly(state) {
  return (state.attributes && state.attributes.friendly_name) || state.entity_id.split(".")[1].replace(/_/g, " ");
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;

// What a person reads: the state with its unit; a timestamp (a button's last press) as a time.
function display(state) {
  const unit = state.attributes.unit_of_measurement;
  if (ISO_TIME.test(state.state) && !isNaN(Date.parse(state.state))) {
    const when = new Date(state.state);
    const today = when.toDateString() === new Date().toDateString();
    return today ? when.toLocaleTimeString() : when.toLocaleString();
  }
  return unit ? `${state.state} ${unit}` : state.state;
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

function render() {
  const groups = new Map();
  for (const state of view.states.values()) {
    const platform = view.platforms.get(state.entity_id) || "other";
    if (!groups.has(platform)) groups.set(platform, []);
    groups.get(platform).push(state);
  }
  for (const domain of Object.keys(view.services)) {
    if (domain === "esp32" && !groups.has(domain)) groups.set(domain, []);
  }
  const root = $("groups");
  root.replaceChildren();
  view.cards.clear();
  // The charger's own controls first, entities of no component last.
  const rank = (p) => (p === "esp32" ? 0 : p === "other" ? 2 : 1);
  const order = [...groups.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const platform of order) {
    const items = groups.get(platform).sort((a, b) => a.entity_id.localeCompare(b.entity_id));
    const grid = el("div", { class: "grid" });
    for (const state of items) grid.append(entityCard(state));
    const section = el("section", { class: "group", "data-platform": platform }, el("h2", {}, platform.replace(/_/g, " ")));
    const services = componentServices(platform);
    if (services) section.append(el("div", { class: "card services" }, ...services));
    section.append(grid);
    root.append(section);
  }
  applyFilter();
}

// --- configuration problems (docs/recovery.md) -----------------------------------------

const PROBLEM_ENTITY = "binary_sensor.configuration_problem";

function showProblems(status) {
  const banner = $("config-banner");
  const problems = status.problems || [];
  if (status.mode === "normal" && !problems.length) { banner.hidden = true; return; }
  const saved = status.last_good_saved_at ? ` saved ${status.last_good_saved_at}` : "";
  $("config-banner-title").textContent =
    status.mode === "recovery"
      ? "Recovery mode: the configuration has problems and there is no last good copy. Only the API and this view run; nothing charges."
      : status.mode === "last_good"
        ? `The configuration has problems: the station runs on the last good configuration${saved}.`
        : "The configuration has problems.";
  $("config-banner-problems").replaceChildren(...problems.map((line) => el("li", {}, line)));
  banner.hidden = false;
}

function stateChanged(entityId, newState) {
  if (entityId === PROBLEM_ENTITY && newState) showProblems(newState.attributes || {});
  if (!newState) {
    view.states.delete(entityId);
    const card = view.cards.get(entityId);
    if (card) card.root.remove();
    view.cards.delete(entityId);
    return;
  }
  const known = view.states.has(entityId);
  view.states.set(entityId, newState);
  if (!view.ready) return; // the snapshot being loaded is newer; render() follows
  const card = view.cards.get(entityId);
  if (card) {
    card.update(newState);
    card.root.classList.remove("flash");
    void card.root.offsetWidth; // restart the animation
    card.root.classList.add("flash");
  } else if (!known) {
    command("config/entity_registry/list").then((registry) => {
      view.platforms = new Map(registry.map((e) => [e.entity_id, e.platform || "other"]));
      render();
    }).catch(() => render());
  }
}

function entityCard(state) {
  const entityId = state.entity_id;
  const domain = entityId.split(".")[0];
  const name = el("span", { class: "name" });
  const value = el("span", { class: "value" });
  const meta = el("div", { class: "meta" });
  const controls = el("div", { class: "controls" });
  const root = el("article", { class: "card entity", "data-entity-id": entityId },
    el("div", { class: "head" }, name, value), meta, controls);
  let chart = null;
  const update = (s) => {
    name.textContent = friendly(s);
    value.textContent = display(s);
    value.title = s.state;
    meta.textContent = `${entityId} · changed ${ago(s.last_changed)}`;
    meta.title = s.last_changed;
    buildControls(controls, domain, s);
    if (chart && !isNaN(parseFloat(s.state))) drawHistory(entityId, chart);
  };
  update(state);
  const numeric = state.attributes.unit_of_measurement !== undefined || (state.state !== "" && !isNaN(Number(state.state)));
  if ((domain === "sensor" || domain === "number") && numeric) {
    const button = el("button", { type: "button", class: "secondary", "data-action": "history" }, "History");
    button.addEventListener("click", () => {
      if (chart) { chart.remove(); chart = null; button.textContent = "History"; return; }
      chart = el("div", { class: "history" });
      root.append(chart);
      button.textContent = "Hide history";
      drawHistory(entityId, chart);
    });
    root.append(el("div", { class: "controls" }, button));
  }
  view.cards.set(entityId, { root, update });
  return root;
}

function buildControls(node, domain, state) {
  const id = state.entity_id;
  const target = { entity_id: id };
  const unavailable = state.state === "unavailable";
  const focused = node.contains(document.activeElement);
  if (focused) return; // do not replace an input the operator is typing in
  node.replaceChildren();
  const button = (label, action, onclick) => {
    const b = el("button", { type: "button", "data-action": action }, label);
    b.disabled = unavailable;
    b.addEventListener("click", onclick);
    return b;
  };
  if (domain === "switch" || domain === "input_boolean") {
    const on = state.state === "on";
    node.append(button(on ? "Turn off" : "Turn on", "toggle",
      () => callService(domain, on ? "turn_off" : "turn_on", target)));
  } else if (domain === "automation") {
    const on = state.state === "on";
    node.append(
      button(on ? "Disable" : "Enable", "toggle", () => callService("automation", on ? "turn_off" : "turn_on", target)),
      button("Trigger", "trigger", () => callService("automation", "trigger", target)));
  } else if (domain === "button") {
    node.append(button("Press", "press", () => callService("button", "press", target)));
  } else if (domain === "number" || domain === "input_number") {
    const a = state.attributes;
    const input = el("input", { type: "number", min: a.min, max: a.max, step: a.step || "any", value: state.state, "aria-label": `Value of ${friendly(state)}` });
    input.disabled = unavailable;
    const set = () => callService(domain, "set_value", { ...target, value: parseFloat(input.value) });
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") set(); });
    node.append(input, button("Set", "set", set));
  } else if (domain === "select" || domain === "input_select") {
    const select = el("select", { "aria-label": `Option of ${friendly(state)}` });
    for (const option of state.attributes.options || []) {
      const item = el("option", { value: option }, option);
      item.selected = option === state.state;
      select.append(item);
    }
    select.disabled = unavailable;
    select.addEventListener("change", () => callService(domain, "select_option", { ...target, option: select.value }));
    node.append(select);
  }
}

// Service buttons for a component's own services (esp32.authorize, esp32.stop_charging...).
function componentServices(platform) {
  const services = view.services[platform];
  const entityDomains = ["switch", "number", "button", "select", "automation", "sensor", "binary_sensor"];
  if (!services || entityDomains.includes(platform)) return null;
  const plain = el("div", { class: "service" });
  const rows = [plain];
  for (const [name, description] of Object.entries(services).sort()) {
    if (description.response && !description.response.optional) continue;
    const inputs = [];
    for (const [field, info] of Object.entries(description.fields || {})) {
      const hint = info && info.example !== undefined ? `${field}: ${info.example}` : field;
      inputs.push(el("input", { type: "text", name: field, placeholder: hint, "aria-label": field }));
    }
    const label = description.name && description.name !== name.replace(/_/g, " ") ? description.name : name.replace(/_/g, " ");
    const go = el("button", { type: "button", "data-service": `${platform}.${name}`, title: description.description || "" }, label);
    go.addEventListener("click", () => {
      const data = {};
      for (const input of inputs) {
        if (input.value === "") continue;
        const number = Number(input.value);
        data[input.name] = input.value.trim() !== "" && !isNaN(number) ? number : input.value;
      }
      callService(platform, name, data);
    });
    if (inputs.length) rows.push(el("div", { class: "service" }, go, ...inputs));
    else plain.append(go);
  }
  const filled = rows.filter((row) => row.childElementCount);
  return filled.length ? filled : null;
}

function applyFilter() {
  const text = $("filter").value.trim().toLowerCase();
  for (const [entityId, card] of view.cards) {
    const state = view.states.get(entityId);
    const hay = `${entityId} ${state ? friendly(state) : ""}`.toLowerCase();
    card.root.hidden = text !== "" && !hay.includes(text);
  }
}

// --- history chart (inline SVG) ------------------------------------------------------------

async function drawHistory(entityId, node) {
  const start = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const url = `/api/history/period/${encodeURIComponent(start)}?filter_entity_id=${encodeURIComponent(entityId)}&minimal_response&no_attributes`;
  let rows;
  try {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY)}` } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || response.statusText);
    rows = body[0] || [];
  } catch (err) {
    node.replaceChildren(el("p", { class: "meta" }, `No history: ${err.message}`));
    return;
  }
  const points = rows.map((r) => [Date.parse(r.last_changed), parseFloat(r.state)]).filter((p) => !isNaN(p[1]));
  if (points.length === 0) {
    node.replaceChildren(el("p", { class: "meta" }, "No numeric history in the last 24 hours."));
    return;
  }
  points.push([Date.now(), points[points.length - 1][1]]); // hold the last value until now
  const t0 = points[0][0], t1 = Math.max(points[points.length - 1][0], t0 + 1);
  let lo = Math.min(...points.map((p) => p[1])), hi = Math.max(...points.map((p) => p[1]));
  if (hi === lo) { hi += 1; lo -= 1; }
  const W = 300, H = 100, top = 8, bottom = 88;
  const x = (t) => ((t - t0) / (t1 - t0)) * W;
  const y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  // Step line: a state holds until the next change.
  const coords = [];
  points.forEach((p, i) => {
    if (i > 0) coords.push(`${x(p[0]).toFixed(1)},${y(points[i - 1][1]).toFixed(1)}`);
    coords.push(`${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
  });
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `History of ${entityId}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", coords.join(" "));
  svg.append(line);
  const label = (text, lx, ly, anchor) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", lx); t.setAttribute("y", ly);
    if (anchor) t.setAttribute("text-anchor", anchor);
    t.textContent = text;
    svg.append(t);
  };
  label(String(+hi.toFixed(3)), 2, top + 2);
  label(String(+lo.toFixed(3)), 2, bottom);
  label(new Date(t0).toLocaleTimeString(), 2, H - 1);
  label("now", W - 2, H - 1, "end");
  node.replaceChildren(svg, el("p", { class: "meta" }, `${rows.length} change(s) in the last 24 hours`));
}

// --- traces and configuration -----------------------------------------------------------------

async function loadTraces() {
  const root = $("traces");
  root.replaceChildren(el("p", { class: "meta" }, "Loading…"));
  let traces;
  try {
    traces = await command("trace/list");
  } catch (err) {
    root.replaceChildren(el("p", { class: "meta" }, err.message));
    return;
  }
  if (!traces.length) {
    root.replaceChildren(el("p", { class: "meta" }, "No automation has run yet."));
    return;
  }
  root.replaceChildren();
  traces.sort((a, b) => String(b.start || "").localeCompare(String(a.start || "")));
  for (const trace of traces) {
    const when = trace.start || (trace.timestamp && trace.timestamp.start) || trace.timestamp;
    const parts = [trace.entity_id || trace.item_id || "automation"];
    if (typeof when === "string") parts.push(new Date(when).toLocaleString());
    parts.push(trace.script_execution || trace.state || "");
    if (typeof trace.trigger === "string") parts.push(trace.trigger);
    const summary = el("summary", {}, parts.filter(Boolean).join(" · "));
    if (trace.error) summary.append(el("span", { class: "bad" }, ` ${trace.error}`));
    const steps = el("ol", { class: "steps" });
    for (const step of trace.steps || []) {
      const text = `${step.path}${step.error ? ` — ${step.error}` : ""}`;
      steps.append(el("li", { class: step.error ? "bad" : "" }, text));
    }
    root.append(el("details", { class: "card trace", "data-item": trace.entity_id || "" },
      summary, steps, el("pre", {}, JSON.stringify(trace, null, 2))));
  }
}

async function checkConfig() {
  const root = $("check-result");
  root.replaceChildren(el("p", { class: "meta" }, "Checking…"));
  try {
    const result = await command("orge/check_config");
    if (result.result === "valid") {
      root.replaceChildren(el("p", { class: "ok" }, "Configuration valid"));
    } else {
      root.replaceChildren(el("p", { class: "bad" }, `${result.problems.length} problem(s)`),
        el("pre", {}, result.problems.join("\n")));
    }
  } catch (err) {
    root.replaceChildren(el("p", { class: "bad" }, err.message));
  }
}

function showConfig(config) {
  const list = $("station-config");
  list.replaceChildren();
  for (const key of ["location_name", "station_id", "version", "time_zone", "config_dir"]) {
    list.append(el("dt", {}, key.replace(/_/g, " ")), el("dd", {}, config[key] ?? ""));
  }
  list.append(el("dt", {}, "components"), el("dd", {}, (config.components || []).join(", ")));
}

function selectTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const tab of ["entities", "traces", "config"]) $(`tab-${tab}`).hidden = tab !== name;
  if (name === "traces") loadTraces();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (token) signIn(token);
  });
  $("signout").addEventListener("click", signOut);
  $("filter").addEventListener("input", applyFilter);
  $("traces-refresh").addEventListener("click", loadTraces);
  $("check-config").addEventListener("click", checkConfig);
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }
  // Keep "changed … ago" honest without a reload.
  setInterval(() => {
    for (const [entityId, card] of view.cards) {
      const state = view.states.get(entityId);
      if (state) card.root.querySelector(".meta").textContent = `${entityId} · changed ${ago(state.last_changed)}`;
    }
  }, 15000);
  connect();
});
