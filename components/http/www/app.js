// ORGE station page: plain JavaScript, no build step, no CDN.
// Talks Home Assistant's WebSocket API (one socket for everything live); history, logbook,
// error log and the session log come from the REST API with the same token.
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
  config: {},
  cards: new Map(),     // entity_id -> {root, update}
  retry: 1000,
  signedOut: false,
  ready: false,         // the first snapshot is rendered
  tab: "status",
  session: null,        // {start: ms, energyStart: kWh|null} when no session entity exists
  lastSession: null,    // {energy, duration} of the session that just ended
  limit: null,          // {target, timer} while a current limit waits for the charger
  lastUpdate: null,
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

// Text from the station with its `code` spans as <code> (the inline code of Home Assistant's
// notification messages and services.yaml descriptions) and its ISO 8601 times with a zone
// (e.g. "saved 2026-11-30T04:29:27.358363+00:00") as local times. Only text nodes, <code>
// and <time> elements are made: whatever the text holds (`<b>`, `&amp;`) is shown as typed,
// never parsed as HTML. A backtick without its pair stays as it is.
const RICH = /`([^`\n]+)`|\b(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))/g;
function richText(text) {
  const fragment = document.createDocumentFragment();
  const source = String(text ?? "");
  let at = 0;
  for (const match of source.matchAll(RICH)) {
    if (match.index > at) fragment.append(source.slice(at, match.index));
    if (match[1] !== undefined) fragment.append(el("code", {}, match[1]));
    else fragment.append(el("time", { datetime: match[2] }, localTime(match[2])));
    at = match.index + match[0].length;
  }
  if (at < source.length) fragment.append(source.slice(at));
  return fragment;
}

function toast(text, bad) {
  const node = $("toast");
  node.textContent = text;
  node.classList.toggle("bad", !!bad);
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 4000);
}

// A result next to the control that caused it, readable (dark text on a light tint) and in view.
function showResult(node, ok, text) {
  node.textContent = text;
  node.classList.toggle("ok", ok);
  node.classList.toggle("bad", !ok);
  node.hidden = false;
  node.scrollIntoView({ block: "nearest" });
}

function setStatus(state) {
  const node = $("status");
  node.dataset.state = state;
  node.textContent = state;
}

const authHeader = () => ({ Authorization: `Bearer ${localStorage.getItem(TOKEN_KEY)}` });

async function api(path) {
  const response = await fetch(path, { headers: authHeader() });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch (err) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
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
      // A revoked token: forget it on this browser.
      localStorage.removeItem(TOKEN_KEY);
      showSignIn("That token was not accepted (wrong, or revoked on the station).");
    } else if (!view.signedOut) {
      setStatus("offline");
      setStale(true);
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
    start().then(() => setStale(false)).catch((err) => toast(`Loading failed: ${err.message}`, true));
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
      reject(new Error("not connected to the station"));
      return;
    }
    const id = view.nextId++;
    view.pending.set(id, { resolve, reject });
    view.ws.send(JSON.stringify({ id, type, ...fields }));
  });
}

const callService = (domain, service, data) =>
  command("call_service", { domain, service, service_data: data || {} });

// A page without its connection greys its values and disables its controls until it is back.
function setStale(stale) {
  document.body.classList.toggle("stale", stale);
  const since = view.lastUpdate ? ` Last update ${view.lastUpdate.toLocaleTimeString()}.` : "";
  $("stale-text").textContent = `The values are the last ones received and may be out of date.${since} Controls are off until the page reconnects; it retries on its own. If it stays like this, check the station's power and network (or its tunnel).`;
  $("stale-banner").hidden = !stale || $("app").hidden;
  for (const node of $("app").querySelectorAll("button, input, select")) {
    if (node.closest(".tabs") || node.closest(".offline-ok")) continue;
    if (stale) {
      if (!node.disabled) { node.dataset.staleDisabled = "1"; node.disabled = true; }
    } else if (node.dataset.staleDisabled) {
      delete node.dataset.staleDisabled;
      node.disabled = false;
    }
  }
  if (!stale) renderStation();
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
  view.config = config;
  $("title").textContent = config.location_name || "ORGE station";
  document.title = $("title").textContent;
  const problemState = states.find((s) => s.entity_id === PROBLEM_ENTITY);
  showProblems(problemState ? problemState.attributes : {
    mode: config.recovery_mode ? "recovery" : config.using_last_good ? "last_good" : "normal",
    problems: config.config_problems || [],
  });
  view.services = services;
  view.formBlocks = new Map();
  view.platforms = new Map(registry.map((e) => [e.entity_id, e.platform || "other"]));
  view.categories = new Map(registry.map((e) => [e.entity_id, e.entity_category]));
  view.states = new Map(states.map((s) => [s.entity_id, s]));
  view.lastUpdate = new Date();
  view.ready = true;
  renderStationForms();
  renderStation();
  findSessionStart();
  selectTab(view.tab);
  document.body.dataset.ready = "1"; // the first snapshot is on screen
}

function stateChanged(entityId, newState) {
  view.lastUpdate = new Date();
  if (entityId === PROBLEM_ENTITY && newState) showProblems(newState.attributes || {});
  const before = view.states.get(entityId);
  if (!newState) {
    view.states.delete(entityId);
    const card = view.cards.get(entityId);
    if (card) card.root.remove();
    view.cards.delete(entityId);
    if (!view.ready) return;
    renderStation();
    if (view.tab === "alerts") renderAlerts();
    return;
  }
  view.states.set(entityId, newState);
  if (!view.ready) return; // the snapshot being loaded is newer; start() renders
  const roles = station();
  if (roles.charger && entityId === roles.charger.entity_id) trackSession(before, newState);
  renderStation();
  if (view.tab === "entities") entityChanged(entityId, newState, before !== undefined);
  if (view.tab === "alerts" && entityId.startsWith("persistent_notification.")) renderAlerts();
  if (view.tab === "network") renderNetwork();
}

// --- the station: which entities play which part ------------------------------------------

const first = (pred) => {
  for (const state of view.states.values()) if (pred(state)) return state;
  return null;
};
const domainOf = (id) => id.split(".")[0];
const num = (state) => (state && state.state !== "" && !isNaN(Number(state.state)) ? Number(state.state) : null);
const live = (state) => state && !["unavailable", "unknown"].includes(state.state);

// The entities the status card reads. The session entities of the OCPP library come first;
// today's charger entities (esp32) stand in for what they do not provide.
function station() {
  const get = (id) => view.states.get(id) || null;
  const charger = get("sensor.charger_state") ||
    first((s) => domainOf(s.entity_id) === "sensor" && /_state$/.test(s.entity_id) && "cp" in (s.attributes || {}));
  const prefix = charger ? charger.entity_id.slice(7, -6) : "charger";
  const session = first((s) => /^sensor\..+_session_state$/.test(s.entity_id));
  const sensorOf = (deviceClass, prefer) =>
    get(prefer) || first((s) => domainOf(s.entity_id) === "sensor" && s.attributes.device_class === deviceClass &&
      !/^sensor\.pi_/.test(s.entity_id));
  return {
    charger,
    session,
    power: sensorOf("power", "sensor.meter_power"),
    energy: sensorOf("energy", "sensor.meter_energy"),
    link: get(`binary_sensor.${prefix}_link`),
    powerBoard: get(`sensor.${prefix}_power_board`),
    authorized: get(`binary_sensor.${prefix}_authorized`),
    limit: get(`number.${prefix}_max_current`) || first((s) => domainOf(s.entity_id) === "number" && s.attributes.device_class === "current"),
    csms: [...view.states.values()].filter((s) => /^sensor\.ocpp[^.]*_connection$/.test(s.entity_id)),
    tunnel: [...view.states.values()].filter((s) => /\.ngrok_/.test(s.entity_id)),
    supply: [...view.states.values()].filter((s) => view.platforms.get(s.entity_id) === "power_monitor"),
  };
}

// The operator's words (OCPP 1.6 ChargePointStatus, IEC 61851 underneath) for the controller
// states (docs/esp32 protocol: idle, cable_detect, ev_connected, ready, charging, paused,
// stopped, fault, hardfault_end), as components/ocpp_station/evse.py maps them for the CSMS.
const WORDS = {
  idle: "Available", cable_detect: "Preparing", ev_connected: "Preparing", ready: "Preparing",
  charging: "Charging", paused: "Suspended", stopped: "Finishing", fault: "Faulted",
  fault_hard: "Faulted", hardfault_end: "Unavailable",
  preparing: "Preparing", suspended: "Suspended", finishing: "Finishing", available: "Available",
};
const SESSION_WORDS = new Set(["Preparing", "Charging", "Suspended", "Finishing"]);
const DETAIL = {
  Available: "No vehicle. Plug in to start.",
  Preparing: "Vehicle plugged in; waiting for authorisation or for the vehicle.",
  Charging: "Energy is flowing to the vehicle.",
  Suspended: "The vehicle has paused charging (full, or its own timer).",
  Finishing: "Session stopped; unplug the vehicle.",
  Unavailable: "The charger cannot charge right now.",
};

function fault(roles) {
  const pb = roles.powerBoard && roles.powerBoard.state;
  const code = roles.charger && roles.charger.attributes.pb;
  if (pb === "no_earth" || code === 2) {
    return { title: "Earth fault: the supply has no protective earth",
      action: "Charging is off for safety. Have an electrician check the earth of the supply; the charger resumes on its own when the earth is back." };
  }
  if (pb === "no_phase" || code === 1) {
    return { title: "Supply fault: a phase is missing",
      action: "Charging is off. Check the breaker and the supply of the charger; it resumes on its own when the phase is back." };
  }
  const state = roles.charger && roles.charger.state;
  if (state === "fault" || state === "fault_hard") {
    return { title: "Charger fault", action: "Unplug the vehicle; if the fault stays, restart the charger." };
  }
  return null;
}

function stateWord(roles) {
  if (roles.link && roles.link.state === "off") return "Unavailable";
  if (fault(roles)) return "Faulted";
  const session = roles.session && live(roles.session) ? WORDS[roles.session.state] : null;
  if (session && session !== "Available") return session;
  if (!roles.charger || !live(roles.charger)) return "Unavailable";
  return WORDS[roles.charger.state] || "Unavailable";
}

function sessionAttr(roles, key) {
  if (!roles.session) return undefined;
  if (roles.session.attributes[key] !== undefined) return roles.session.attributes[key];
  const sibling = view.states.get(roles.session.entity_id.replace(/_state$/, `_${key.replace(/_(kwh|w|s)$/, "")}`));
  return sibling ? sibling.state : undefined;
}

// Without the session entities: the session starts when the charger leaves Available, and
// its energy is the meter register now minus the register then (not the lifetime total).
function trackSession(before, after) {
  const was = before ? WORDS[before.state] : undefined;
  const now = WORDS[after.state];
  const roles = station();
  if (!view.session && SESSION_WORDS.has(now)) {
    view.session = { start: Date.parse(after.last_changed), energyStart: num(roles.energy) };
    view.lastSession = null;
  } else if (was !== now && (now === "Available" || now === "Unavailable") && view.session) {
    view.lastSession = sessionFigures(roles);
    view.session = null;
  }
}

async function findSessionStart() {
  const roles = station();
  if (roles.session || !roles.charger || !SESSION_WORDS.has(WORDS[roles.charger.state]) || view.session) return;
  // Opened in the middle of a session: find where it began in the recorder.
  view.session = { start: Date.parse(roles.charger.last_changed), energyStart: null };
  try {
    const since = new Date(Date.now() - 7 * 86400e3).toISOString();
    const ids = [roles.charger.entity_id, roles.energy && roles.energy.entity_id].filter(Boolean);
    const rows = await (await api(`/api/history/period/${encodeURIComponent(since)}?filter_entity_id=${ids.join(",")}&minimal_response&no_attributes`)).json();
    const chargerRows = rows.find((r) => r.length && (r[0].entity_id || ids[0]) === ids[0]) || rows[0] || [];
    let start = null;
    for (const row of chargerRows) {
      const inSession = SESSION_WORDS.has(WORDS[row.state]);
      if (inSession && start === null) start = Date.parse(row.last_changed);
      if (!inSession) start = null;
    }
    if (start !== null) view.session.start = start;
    const energyRows = (ids[1] && rows.find((r) => r.length && r[0].entity_id === ids[1])) || [];
    let atStart = null;
    for (const row of energyRows) {
      if (Date.parse(row.last_changed) <= view.session.start && !isNaN(Number(row.state))) atStart = Number(row.state);
    }
    if (atStart === null && energyRows.length) atStart = Number(energyRows[0].state);
    view.session.energyStart = atStart;
  } catch (err) {
    view.session.energyStart = num(roles.energy);
  }
  renderStation();
}

// A session runs from plug-in to Available again; a fault inside it does not end it.
function sessionFigures(roles) {
  if (roles.session) {
    const started = sessionAttr(roles, "started_at");
    let duration = Number(sessionAttr(roles, "duration_s"));
    if (started && WORDS[roles.session.state] !== "Available") duration = (Date.now() - Date.parse(started)) / 1000;
    return { energy: num({ state: sessionAttr(roles, "session_energy_kwh") }), duration: isNaN(duration) ? null : duration,
      who: sessionAttr(roles, "id_token"), power: num({ state: sessionAttr(roles, "power_w") }) };
  }
  if (!view.session) return null;
  const now = num(roles.energy);
  const energy = now !== null && view.session.energyStart !== null ? Math.max(0, now - view.session.energyStart) : null;
  return { energy, duration: (Date.now() - view.session.start) / 1000, who: null, power: null };
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h} h ${pad(m)} min` : `${m} min ${pad(r)} s`;
}
const formatPower = (w) => (w === null || w === undefined ? "–" : w >= 1000 ? `${(w / 1000).toFixed(2)} kW` : `${Math.round(w)} W`);
const formatEnergy = (kwh) => (kwh === null || kwh === undefined || isNaN(kwh) ? "–" : `${kwh.toFixed(kwh < 10 ? 3 : 1)} kWh`);
const mask = (token) => (token ? `•••• ${String(token).slice(-4)}` : null);

function renderStation() {
  if (!view.ready) return;
  const roles = station();
  const word = stateWord(roles);
  const inSession = SESSION_WORDS.has(word) || (word === "Faulted" && !!view.session);
  const problem = fault(roles);
  if (view.word && view.word !== word) {
    // Results of the last action belong to the state they were given in.
    $("action-result").hidden = true;
    if (!view.limit) $("limit-result").hidden = true;
  }
  view.word = word;
  const node = $("state");
  node.textContent = word;
  node.dataset.tone = word.toLowerCase();
  const figures = inSession || roles.session ? sessionFigures(roles) : null;
  let detail = problem ? problem.title : DETAIL[word] || "";
  if (word === "Unavailable" && roles.link && roles.link.state === "off") detail = "The charge controller does not answer.";
  if (!inSession && view.lastSession && view.lastSession.energy !== null) {
    detail += ` Last session: ${formatEnergy(view.lastSession.energy)} in ${formatDuration(view.lastSession.duration)}.`;
  }
  $("state-detail").textContent = detail;
  const power = figures && figures.power !== null ? figures.power : num(roles.power);
  $("fig-power").textContent = roles.power || (figures && figures.power !== null) ? formatPower(power) : "–";
  $("fig-energy").textContent = inSession && figures ? formatEnergy(figures.energy) : "–";
  $("fig-duration").textContent = inSession && figures ? formatDuration(figures.duration) : "–";
  let who = figures && figures.who ? mask(figures.who) : null;
  if (!who && inSession && roles.authorized) {
    // The controller's AUTH flag says that the session is authorised, not by whom: a start
    // by the CSMS (RequestStartTransaction / RemoteStartTransaction) and a local one
    // (Start here, a card) both end in esp32.authorize, and no entity or event on the bus
    // tells them apart. So the page does not guess.
    if (roles.authorized.state === "on") who = "Authorised";
    else if (word === "Preparing") who = "Not authorised yet";
  }
  $("fig-who").textContent = who || "–";
  renderIndicators(roles, problem);
  renderAlarms(roles, problem);
  renderControls(roles, word);
}

// The status card is redrawn every second (the session clock): an alert region is replaced
// only when its text changes, so a screen reader announces a banner once.
function replaceIfChanged(node, children) {
  const text = children.map((c) => c.textContent).join("\n");
  if (node.dataset.text === text && node.childElementCount === children.length) return;
  node.dataset.text = text;
  node.replaceChildren(...children);
}

function renderIndicators(roles, problem) {
  const items = [];
  const add = (label, text, ok, title) => items.push(el("li", { class: ok ? "ind ok" : "ind bad", title: title || "" },
    el("span", { class: "dot", "aria-hidden": "true" }), `${label}: ${text}`));
  if (roles.csms.length) {
    const connected = roles.csms.find((s) => s.state === "connected");
    const active = view.states.get("sensor.ocpp_active_protocol");
    add("CSMS", connected ? `connected${active && live(active) && active.state !== "none" ? ` (${active.state.replace("ocpp", "OCPP ")})` : ""}` : "not connected", !!connected);
  }
  if (roles.tunnel.length) {
    const up = roles.tunnel.some((s) => s.state === "on" || s.state === "connected" || /^https?:/.test(s.state));
    add("Tunnel", up ? "up" : "down", up);
  }
  const alerts = alertCount();
  renderAlertCount();
  add("Problems", problem ? problem.title : alerts ? `${alerts} alert(s)` : "none", !problem && !alerts);
  replaceIfChanged($("indicators"), items);
}

// Banners: a fault or a lost link, with the reason and what to do.
function renderAlarms(roles, problem) {
  const banners = [];
  const banner = (kind, title, action) => banners.push(el("section", { class: `banner ${kind}`, role: "alert", "data-alarm": kind },
    el("h2", {}, title), el("p", {}, action)));
  if (problem) banner("fault", problem.title, problem.action);
  if (roles.link && roles.link.state === "off") {
    const reason = roles.link.attributes.last_error ? ` (${roles.link.attributes.last_error})` : "";
    banner("fault", `Charge controller not answering${reason}`,
      "Nothing can charge. Check the USB cable between the Raspberry Pi and the ESP32 and the controller's power; ORGE reconnects on its own.");
  }
  const csmsDown = roles.csms.length && !roles.csms.some((s) => s.state === "connected");
  if (csmsDown) {
    const error = [...view.states.values()].find((s) => /^sensor\.ocpp[^.]*_last_error$/.test(s.entity_id) && live(s) && s.state !== "none");
    banner("warn", `CSMS not connected${error ? `: ${error.state}` : ""}`,
      "Charging goes on; sessions and meter values are kept and sent when the link is back. Check the station's internet connection and the CSMS URL on the Network page.");
  }
  replaceIfChanged($("alarms"), banners);
}

function renderControls(roles, word) {
  const stale = document.body.classList.contains("stale");
  const start = $("btn-start"), stop = $("btn-stop");
  const charger = roles.charger ? view.platforms.get(roles.charger.entity_id) : null;
  const services = (charger && view.services[charger]) || {};
  start.hidden = !services.authorize;
  stop.hidden = !services.stop_charging;
  const authorized = roles.authorized && roles.authorized.state === "on";
  start.disabled = stale || word !== "Preparing" || authorized;
  start.title = word === "Available" ? "Plug in the vehicle first" : "";
  stop.disabled = stale || !["Preparing", "Charging", "Suspended"].includes(word) || (word === "Preparing" && !authorized);
  const box = $("limit-box");
  box.hidden = !roles.limit;
  if (!roles.limit) return;
  const slider = $("limit");
  const a = roles.limit.attributes;
  slider.min = a.min ?? 6; slider.max = a.max ?? 32; slider.step = a.step ?? 1;
  slider.disabled = stale || !live(roles.limit);
  const real = num(roles.limit);
  const unit = a.unit_of_measurement || "A";
  if (view.limit && real === view.limit.target) {
    clearTimeout(view.limit.timer);
    view.limit = null;
    showResult($("limit-result"), true, `The charger confirmed ${real} ${unit}.`);
  }
  $("limit-pending").hidden = !view.limit;
  if (!view.limit && document.activeElement !== slider && real !== null) slider.value = real;
  $("limit-value").textContent = `${view.limit ? view.limit.target : slider.value} ${unit}`;
}

async function runAction(service) {
  const roles = station();
  const domain = view.platforms.get(roles.charger.entity_id);
  const result = $("action-result");
  try {
    await callService(domain, service, {});
    showResult(result, true, service === "authorize" ? "Start sent: the charger is authorised." : "Stop sent: the session ends.");
  } catch (err) {
    showResult(result, false, `${service === "authorize" ? "Start" : "Stop"} refused: ${err.message}`);
  }
}

async function setLimit() {
  const roles = station();
  if (!roles.limit) return;
  const slider = $("limit");
  const target = Number(slider.value);
  const unit = roles.limit.attributes.unit_of_measurement || "A";
  if (target === num(roles.limit)) return;
  clearTimeout(view.limit && view.limit.timer);
  view.limit = { target, timer: setTimeout(() => springBack("The charger did not confirm within 15 s."), 15000) };
  $("limit-result").hidden = true;
  renderStation();
  try {
    await callService(domainOf(roles.limit.entity_id), "set_value", { entity_id: roles.limit.entity_id, value: target });
    renderStation(); // the state may already be the new value
  } catch (err) {
    springBack(`${target} ${unit} refused: ${err.message}`);
  }
}

function springBack(reason) {
  if (view.limit) clearTimeout(view.limit.timer);
  view.limit = null;
  const roles = station();
  if (roles.limit && num(roles.limit) !== null) $("limit").value = num(roles.limit);
  renderStation();
  showResult($("limit-result"), false, reason);
}

// --- forms from services.yaml -----------------------------------------------------------------

const humanize = (name) => name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

// A form for one service, built from its fields (name, description, selector, required,
// default, example: Home Assistant's services.yaml). Fixed choices of the one required field
// become a row of buttons; every answer is shown under the form.
function serviceForm(domain, name, description) {
  const fields = Object.entries(description.fields || {});
  const result = el("p", { class: "result", role: "status", "aria-live": "polite", hidden: true });
  const form = el("form", { class: "card service-form", "data-service": `${domain}.${name}` },
    el("h3", {}, humanize(description.name || name)));
  if (description.description) form.append(el("p", { class: "meta" }, richText(description.description)));
  const readers = [];
  let choice = null;
  const required = fields.filter(([, f]) => f && f.required);
  for (const [key, info] of fields) {
    const f = info || {};
    const selector = f.selector || {};
    const id = `f-${domain}-${name}-${key}`;
    const options = selector.select ? (selector.select.options || []).map((o) => (typeof o === "object" ? o : { value: o, label: String(o) })) : null;
    if (options && f.required && required.length === 1) {
      choice = { key, options };
      continue;
    }
    let input;
    if (options) {
      input = el("select", { id, name: key });
      if (!f.required) input.append(el("option", { value: "" }, "—"));
      for (const o of options) input.append(el("option", { value: String(o.value) }, o.label || String(o.value)));
      readers.push([key, () => { const o = options.find((x) => String(x.value) === input.value); return o ? o.value : undefined; }]);
    } else if (selector.boolean) {
      input = el("input", { id, name: key, type: "checkbox" });
      input.defaultChecked = f.default === true;
      readers.push([key, () => input.checked]);
    } else if (selector.number) {
      const n = selector.number;
      input = el("input", { id, name: key, type: "number", min: n.min, max: n.max, step: n.step || "any", placeholder: f.example ?? "" });
      readers.push([key, () => (input.value === "" ? undefined : Number(input.value))]);
    } else {
      input = el("input", { id, name: key, type: "text", placeholder: f.example === undefined ? ""
        : `e.g. ${typeof f.example === "object" ? JSON.stringify(f.example) : f.example}` });
      const numeric = typeof f.example === "number";
      readers.push([key, () => (input.value === "" ? undefined : numeric && !isNaN(Number(input.value)) ? Number(input.value) : input.value)]);
    }
    if (f.required) input.required = true;
    if (f.default !== undefined && !selector.boolean) input.defaultValue = String(f.default);
    const unit = selector.number && selector.number.unit_of_measurement;
    form.append(el("label", { for: id }, `${f.name || humanize(key)}${unit ? ` in ${unit}` : ""}${f.required ? " (required)" : ""}`), input);
    if (f.description) form.append(el("p", { class: "hint" }, richText(f.description)));
  }
  const submit = async (extra) => {
    const data = {};
    for (const [key, read] of readers) {
      const value = read();
      if (value !== undefined) data[key] = value;
    }
    Object.assign(data, extra || {});
    const label = extra && choice ? String(extra[choice.key]).replace(/_/g, " ") : humanize(description.name || name);
    try {
      const answer = await command("call_service", { domain, service: name, service_data: data });
      showResult(result, true, `${label}: done${answer && answer.response ? ` — ${JSON.stringify(answer.response)}` : ""}`);
    } catch (err) {
      form.reset(); // back to the real (default) values
      showResult(result, false, `${label} refused: ${err.message}`);
    }
  };
  const buttons = el("div", { class: "choices" });
  if (choice) {
    const f = description.fields[choice.key];
    form.append(el("p", { class: "label" }, f.name || humanize(choice.key)));
    for (const o of choice.options) {
      buttons.append(el("button", { type: "button", "data-choice": String(o.value), onclick: () => submit({ [choice.key]: o.value }) },
        o.label ? String(o.label).replace(/_/g, " ") : String(o.value)));
    }
    form.append(buttons);
  } else {
    form.append(el("button", { type: "submit" }, humanize(description.name || name)));
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); if (!choice) submit(); });
  form.append(result);
  return form;
}

function formsFor(domain) {
  const services = view.services[domain] || {};
  return Object.entries(services)
    .filter(([, d]) => !(d.response && !d.response.optional))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, d]) => serviceForm(domain, name, d));
}

function renderStationForms() {
  const roles = station();
  const domains = [];
  const charger = roles.charger ? view.platforms.get(roles.charger.entity_id) : null;
  if (charger) domains.push(charger);
  if (view.services.demo_csms) domains.push("demo_csms");
  const root = $("station-forms");
  root.replaceChildren();
  for (const domain of domains) {
    const forms = formsFor(domain);
    // The simulator first: it drives a demo session.
    forms.sort((a, b) => (b.dataset.service.endsWith(".simulate") ? 1 : 0) - (a.dataset.service.endsWith(".simulate") ? 1 : 0));
    if (forms.length) root.append(el("details", { class: "forms", open: domain === charger ? "" : null },
      el("summary", {}, domain === charger ? `Charger actions (${domain})` : `${humanize(domain)} actions`), el("div", { class: "form-grid" }, ...forms)));
  }
}

// --- configuration problems (docs/recovery.md) -----------------------------------------

const PROBLEM_ENTITY = "binary_sensor.configuration_problem";

function showProblems(status) {
  const banner = $("config-banner");
  const problems = status.problems || [];
  view.configProblems = problems;
  if (status.mode === "normal" && !problems.length) { banner.hidden = true; return; }
  const saved = status.last_good_saved_at ? ` saved ${localTime(status.last_good_saved_at)}` : "";
  $("config-banner-title").textContent =
    status.mode === "recovery"
      ? "Recovery mode: the configuration has problems and there is no last good copy. Only the API and this view run; nothing charges."
      : status.mode === "last_good"
        ? `The configuration has problems: the station runs on the last good configuration${saved}.`
        : "The configuration has problems.";
  $("config-banner-problems").replaceChildren(...problems.map((line) => el("li", {}, richText(line))));
  banner.hidden = false;
}

// --- entities (for the engineer) ---------------------------------------------------------------

function friendly(state) {
  return (state.attributes && state.attributes.friendly_name) || state.entity_id.split(".")[1].replace(/_/g, " ");
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;

// An ISO 8601 time as a person reads it, in the browser's time zone and language: the time
// alone when it is today, else date and time. Text that is not a time is returned as it is.
function localTime(iso) {
  const when = new Date(iso);
  if (isNaN(when.getTime())) return String(iso);
  const today = when.toDateString() === new Date().toDateString();
  return today ? when.toLocaleTimeString() : when.toLocaleString();
}

// What a person reads: the state with its unit; a timestamp (a button's last press) as a time.
function display(state) {
  const unit = state.attributes.unit_of_measurement;
  if (ISO_TIME.test(state.state) && !isNaN(Date.parse(state.state))) return localTime(state.state);
  return unit ? `${state.state} ${unit}` : state.state;
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.floor(seconds)} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

// Raw readings an engineer needs to diagnose, not to operate: grouped apart.
const DIAGNOSTIC = /(_cp_state|_cp_voltage|_pp_state|_pwm|_bad_lines|_power_board|_cable_current|_relay|_stop_requested|_link|_queue|_protocol|_last_error|_last_message|_stations|_transactions)$/;
const isDiagnostic = (id) => view.categories.get(id) === "diagnostic" || DIAGNOSTIC.test(id) || id === PROBLEM_ENTITY;

function renderEntities() {
  const groups = new Map();
  const diagnostics = [];
  for (const state of view.states.values()) {
    if (isDiagnostic(state.entity_id)) { diagnostics.push(state); continue; }
    const platform = view.platforms.get(state.entity_id) || "other";
    if (!groups.has(platform)) groups.set(platform, []);
    groups.get(platform).push(state);
  }
  const root = $("groups");
  root.replaceChildren();
  view.cards.clear();
  const rank = (p) => (p === "esp32" ? 0 : p === "other" ? 2 : 1);
  const order = [...groups.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  // The service forms are kept across re-renders (a new entity appears): their inputs and
  // results stay where the operator left them.
  const section = (key, title, items, services) => {
    const grid = el("div", { class: "grid" });
    for (const state of items.sort((a, b) => a.entity_id.localeCompare(b.entity_id))) grid.append(entityCard(state));
    const node = el("section", { class: "group", "data-platform": key }, el("h2", {}, title));
    if (services) node.append(services);
    node.append(grid);
    return node;
  };
  for (const platform of order) {
    const entityDomains = ["switch", "number", "button", "select", "automation", "sensor", "binary_sensor"];
    let block = view.formBlocks.get(platform);
    if (block === undefined) {
      const forms = entityDomains.includes(platform) ? [] : formsFor(platform);
      block = forms.length ? el("details", { class: "forms" }, el("summary", {}, `${humanize(platform)} services`), el("div", { class: "form-grid" }, ...forms)) : null;
      view.formBlocks.set(platform, block);
    }
    root.append(section(platform, humanize(platform), groups.get(platform), block));
  }
  if (diagnostics.length) root.append(section("diagnostics", "Diagnostics", diagnostics, null));
  applyFilter();
}

function entityChanged(entityId, newState, known) {
  const card = view.cards.get(entityId);
  if (card) {
    card.update(newState);
    card.root.classList.remove("flash");
    void card.root.offsetWidth; // restart the animation
    card.root.classList.add("flash");
  } else if (!known) {
    command("config/entity_registry/list").then((registry) => {
      view.platforms = new Map(registry.map((e) => [e.entity_id, e.platform || "other"]));
      renderEntities();
    }).catch(() => renderEntities());
  }
}

function entityCard(state) {
  const entityId = state.entity_id;
  const domain = domainOf(entityId);
  const name = el("span", { class: "name" });
  const value = el("span", { class: "value" });
  const meta = el("div", { class: "meta" });
  const controls = el("div", { class: "controls" });
  const result = el("p", { class: "result", role: "status", hidden: true });
  const root = el("article", { class: "card entity", "data-entity-id": entityId },
    el("div", { class: "head" }, name, value), meta, controls, result);
  let chart = null;
  const update = (s) => {
    name.textContent = friendly(s);
    value.textContent = display(s);
    value.title = s.state;
    meta.textContent = `${entityId} · changed ${ago(s.last_changed)}`;
    meta.title = s.last_changed;
    buildControls(controls, domain, s, result);
    if (chart && !isNaN(parseFloat(s.state))) drawHistory(chart, entityId, Date.now() - 86400e3, Date.now(), true);
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
      drawHistory(chart, entityId, Date.now() - 86400e3, Date.now(), true);
    });
    root.append(el("div", { class: "controls" }, button));
  }
  view.cards.set(entityId, { root, update });
  return root;
}

function buildControls(node, domain, state, result) {
  const id = state.entity_id;
  const target = { entity_id: id };
  const unavailable = state.state === "unavailable" || document.body.classList.contains("stale");
  if (node.contains(document.activeElement)) return; // do not replace an input the operator is typing in
  node.replaceChildren();
  const call = async (service, data, label, reset) => {
    try {
      await callService(service[0], service[1], data);
      showResult(result, true, `${label}: done`);
    } catch (err) {
      if (reset) reset();
      showResult(result, false, `${label} refused: ${err.message}`);
    }
  };
  const button = (label, action, onclick) => {
    const b = el("button", { type: "button", "data-action": action }, label);
    b.disabled = unavailable;
    b.addEventListener("click", onclick);
    return b;
  };
  if (domain === "switch" || domain === "input_boolean") {
    const on = state.state === "on";
    node.append(button(on ? "Turn off" : "Turn on", "toggle", () => call([domain, on ? "turn_off" : "turn_on"], target, on ? "Turn off" : "Turn on")));
  } else if (domain === "automation") {
    const on = state.state === "on";
    node.append(
      button(on ? "Disable" : "Enable", "toggle", () => call(["automation", on ? "turn_off" : "turn_on"], target, on ? "Disable" : "Enable")),
      button("Trigger", "trigger", () => call(["automation", "trigger"], target, "Trigger")));
  } else if (domain === "button") {
    node.append(button("Press", "press", () => call(["button", "press"], target, "Press")));
  } else if (domain === "number" || domain === "input_number") {
    const a = state.attributes;
    const input = el("input", { type: "number", min: a.min, max: a.max, step: a.step || "any", value: state.state, "aria-label": `Value of ${friendly(state)}` });
    input.disabled = unavailable;
    const set = () => call([domain, "set_value"], { ...target, value: parseFloat(input.value) }, `Set ${input.value}`,
      () => { input.value = view.states.get(id).state; });
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
    select.addEventListener("change", () => call([domain, "select_option"], { ...target, option: select.value }, select.value,
      () => { select.value = view.states.get(id).state; }));
    node.append(select);
  }
}

function applyFilter() {
  const text = $("filter").value.trim().toLowerCase();
  for (const [entityId, card] of view.cards) {
    const state = view.states.get(entityId);
    const hay = `${entityId} ${state ? friendly(state) : ""}`.toLowerCase();
    card.root.hidden = text !== "" && !hay.includes(text);
  }
}

// --- charts (inline SVG, no library) --------------------------------------------------------

async function historyRows(ids, t0, t1) {
  const url = `/api/history/period/${encodeURIComponent(new Date(t0).toISOString())}?end_time=${encodeURIComponent(new Date(t1).toISOString())}&filter_entity_id=${ids.map(encodeURIComponent).join(",")}&minimal_response&no_attributes`;
  const rows = await (await api(url)).json();
  return ids.map((id) => rows.find((r) => r.length && r[0].entity_id === id) || []);
}

const timeLabel = (t, span) => (span > 36 * 3600e3 ? new Date(t).toLocaleDateString([], { month: "short", day: "numeric", hour: "2-digit" }) : new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));

// A step chart of one entity from t0 to t1 (ms), with its unit on the value axis, times on
// the time axis and sessions (charger in a session state) shaded.
// `fit`: start at the first recorded value instead of t0 (the entity cards' quick chart).
async function drawHistory(node, entityId, t0, t1, fit) {
  node.replaceChildren(el("p", { class: "meta" }, "Loading…"));
  const roles = station();
  const chargerId = roles.charger && roles.charger.entity_id;
  let rows, chargerRows = [];
  try {
    const ids = chargerId && chargerId !== entityId ? [entityId, chargerId] : [entityId];
    [rows, chargerRows = []] = await historyRows(ids, t0, t1);
  } catch (err) {
    node.replaceChildren(el("p", { class: "meta" }, `No history: ${err.message}`));
    return;
  }
  const points = rows.map((r) => [Math.max(t0, Date.parse(r.last_changed)), parseFloat(r.state)]).filter((p) => !isNaN(p[1]));
  if (points.length === 0) {
    node.replaceChildren(el("p", { class: "meta" }, "No numeric values recorded in this range."));
    return;
  }
  if (fit) t0 = Math.min(points[0][0], t1 - 1000);
  points.push([Math.min(t1, Date.now()), points[points.length - 1][1]]); // hold the last value
  const state = view.states.get(entityId);
  const unit = (state && state.attributes.unit_of_measurement) || "";
  let lo = Math.min(0, ...points.map((p) => p[1])), hi = Math.max(...points.map((p) => p[1]));
  if (hi === lo) hi = lo + 1;
  // Drawn at the width it is shown at, so its 12 px labels stay 12 px on a phone.
  const W = Math.max(300, Math.round(node.clientWidth || 600)), H = 230, left = 56, right = 12, top = 28, bottom = 200;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${state ? friendly(state) : entityId} in ${unit || "its unit"} over time`);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  // Sessions marked: the spans where the charger was in a session.
  let open = null;
  const spans = [];
  for (const r of chargerRows) {
    const t = Math.max(t0, Date.parse(r.last_changed));
    const inSession = SESSION_WORDS.has(WORDS[r.state]);
    if (inSession && open === null) open = t;
    if (!inSession && open !== null) { spans.push([open, t]); open = null; }
  }
  if (open !== null) spans.push([open, Math.min(t1, Date.now())]);
  for (const [a, b] of spans) {
    add("rect", { class: "session", x: x(a), y: top, width: Math.max(1, x(b) - x(a)), height: bottom - top }).append(
      Object.assign(document.createElementNS(ns, "title"), { textContent: `session ${new Date(a).toLocaleString()}` }));
  }
  add("line", { class: "axis", x1: left, y1: bottom, x2: W - right, y2: bottom });
  add("line", { class: "axis", x1: left, y1: top, x2: left, y2: bottom });
  for (const v of [lo, (lo + hi) / 2, hi]) {
    add("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end" }, `${+v.toPrecision(3)}`);
  }
  add("text", { x: left, y: 14, class: "unit", "text-anchor": "middle" }, unit);
  for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
    add("text", { x: x(t), y: H - 12, "text-anchor": anchor }, timeLabel(t, t1 - t0));
  }
  const coords = [];
  points.forEach((p, i) => {
    if (i > 0) coords.push(`${x(p[0]).toFixed(1)},${y(points[i - 1][1]).toFixed(1)}`);
    coords.push(`${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
  });
  add("polyline", { points: coords.join(" ") });
  node.replaceChildren(svg, el("p", { class: "meta" },
    `${rows.length} value(s); ${spans.length} session(s) shaded. Value axis in ${unit || "units of the entity"}, time axis in local time.`));
}

// --- pages ------------------------------------------------------------------------------------

async function renderSessions() {
  const root = $("sessions");
  root.replaceChildren(el("p", { class: "meta" }, "Loading…"));
  let sessions;
  try {
    sessions = await (await api("/api/ocpp/sessions")).json();
  } catch (err) {
    root.replaceChildren(el("p", { class: "card" }, err.status === 404
      ? "This station does not keep a session log yet (GET /api/ocpp/sessions is not there). The status page shows the running session; History shows past sessions shaded on the power chart."
      : `The session log could not be read: ${err.message}`));
    return;
  }
  if (!sessions.length) { root.replaceChildren(el("p", { class: "card" }, "No session yet.")); return; }
  root.replaceChildren();
  const power = station().power;
  for (const s of sessions) {
    const chart = el("div", {});
    const button = el("button", { type: "button", class: "secondary", onclick: () => {
      const t0 = Date.parse(s.started_at), t1 = s.ended_at ? Date.parse(s.ended_at) : Date.now();
      if (power) drawHistory(chart, power.entity_id, t0 - 60e3, t1 + 60e3);
    } }, "Power chart");
    root.append(el("article", { class: "card session-row", "data-transaction": s.transaction_id },
      el("h3", {}, `${new Date(s.started_at).toLocaleString()} · ${formatEnergy(s.energy_kwh)} · ${formatDuration(s.duration_s)}`),
      el("p", {}, `For ${mask(s.id_token) || "–"} · ${s.ended_at ? `ended: ${s.stop_reason || "–"}` : "running"} · ${s.confirmed ? "confirmed by the CSMS" : "not yet confirmed by the CSMS"}`),
      el("p", { class: "meta" }, `Transaction ${s.transaction_id}`), button, chart));
  }
}

function historyChoices() {
  const select = $("history-entity");
  const current = select.value;
  const roles = station();
  const ids = [...view.states.values()].filter((s) => ["sensor", "number"].includes(domainOf(s.entity_id)) && s.attributes.unit_of_measurement)
    .map((s) => s.entity_id).sort();
  const firstIds = [roles.power, roles.energy].filter(Boolean).map((s) => s.entity_id);
  const order = [...firstIds, ...ids.filter((id) => !firstIds.includes(id))];
  select.replaceChildren(...order.map((id) => el("option", { value: id }, `${friendly(view.states.get(id))} (${view.states.get(id).attributes.unit_of_measurement})`)));
  if (order.includes(current)) select.value = current;
}

function renderHistory() {
  const range = $("history-range").value;
  $("history-custom").hidden = range !== "custom";
  const id = $("history-entity").value;
  if (!id) { $("history-chart").replaceChildren(el("p", { class: "meta" }, "No entity with a unit to chart.")); return; }
  let t0, t1 = Date.now();
  if (range === "custom") {
    t0 = Date.parse($("history-from").value);
    t1 = $("history-to").value ? Date.parse($("history-to").value) : Date.now();
    if (isNaN(t0) || !(t1 > t0)) { $("history-chart").replaceChildren(el("p", { class: "result bad" }, "Choose a start before the end.")); return; }
  } else {
    t0 = t1 - Number(range) * 3600e3;
  }
  drawHistory($("history-chart"), id, t0, t1);
}

async function renderLogbook() {
  const root = $("logbook");
  root.replaceChildren(el("p", { class: "meta" }, "Loading…"));
  try {
    const since = new Date(Date.now() - 86400e3).toISOString();
    const all = await (await api(`/api/logbook/${encodeURIComponent(since)}`)).json();
    // The operator's logbook: raw readings (CP, PWM...) only when asked for.
    const entries = $("logbook-all").checked ? all : all.filter((e) => !e.entity_id || !isDiagnostic(e.entity_id));
    if (!entries.length) { root.replaceChildren(el("p", { class: "card" }, "Nothing happened in the last 24 hours.")); return; }
    const list = el("ol", { class: "card logbook" });
    for (const e of entries.slice(-300).reverse()) {
      list.append(el("li", {}, el("time", { datetime: e.when }, new Date(e.when).toLocaleTimeString()), " ",
        el("strong", {}, e.name || e.entity_id || ""), " ", e.message || (e.state !== undefined ? `changed to ${e.state}` : "")));
    }
    root.replaceChildren(list);
  } catch (err) {
    root.replaceChildren(el("p", { class: "card" }, `The logbook could not be read: ${err.message}`));
  }
}

function notifications() {
  return [...view.states.values()].filter((s) => domainOf(s.entity_id) === "persistent_notification");
}
// A configuration problem is also a persistent notification (orge/recovery.py: its message is
// the problem's line, then what to do): such a problem is one alert, shown as its notification
// (which can be dismissed); a problem line is a card of its own only without a notification.
function problemsWithoutNotification() {
  const notified = new Set(notifications().map((n) => String(n.attributes.message || "").split("\n")[0]));
  return (view.configProblems || []).filter((line) => !notified.has(line));
}
const alertCount = () => notifications().length + problemsWithoutNotification().length;

function renderAlerts() {
  const root = $("alerts");
  root.replaceChildren();
  const roles = station();
  const problem = fault(roles);
  if (problem) root.append(el("article", { class: "card alert bad-edge" }, el("h3", {}, problem.title), el("p", {}, problem.action)));
  for (const line of problemsWithoutNotification()) {
    root.append(el("article", { class: "card alert bad-edge", "data-problem": "" }, el("h3", {}, "Configuration problem"), el("p", {}, richText(line))));
  }
  for (const n of notifications()) {
    const id = n.entity_id.split(".")[1];
    const result = el("p", { class: "result", role: "status", hidden: true });
    const dismiss = el("button", { type: "button", class: "secondary", onclick: async () => {
      try { await callService("persistent_notification", "dismiss", { notification_id: id }); } catch (err) { showResult(result, false, `Dismiss refused: ${err.message}`); }
    } }, "Dismiss");
    root.append(el("article", { class: "card alert", "data-notification": id },
      el("h3", {}, richText(n.attributes.title || humanize(id))), el("p", { class: "message" }, richText(n.attributes.message || n.state)),
      el("p", { class: "meta" }, `since ${new Date(n.last_changed).toLocaleString()}`), dismiss, result));
  }
  if (!root.childElementCount) root.append(el("p", { class: "card" }, "No alerts: no fault, no configuration problem, no notification."));
  renderAlertCount();
}

// The count on the Alerts tab, the same number as "Problems: n alert(s)" on the status card.
function renderAlertCount() {
  const count = $("alert-count");
  const alerts = alertCount();
  if (count.textContent !== String(alerts)) count.textContent = String(alerts);
  count.hidden = !alerts;
}

// A URL as it may be shown: never its user or password.
function safeUrl(text) {
  try {
    const url = new URL(text);
    url.username = ""; url.password = "";
    return url.toString();
  } catch (err) {
    return String(text).replace(/\/\/[^/@]*@/, "//");
  }
}

function renderNetwork() {
  const root = $("network");
  root.replaceChildren();
  const roles = station();
  const block = (title, rows) => {
    const list = el("dl", {});
    for (const [k, v] of rows) list.append(el("dt", {}, k), el("dd", {}, v ?? "–"));
    root.append(el("article", { class: "card" }, el("h3", {}, title), list));
  };
  const get = (id) => view.states.get(id);
  for (const conn of roles.csms) {
    const base = conn.entity_id.slice(7, -"_connection".length);
    const lastError = get(`sensor.${base}_last_error`);
    const lastMessage = get(`sensor.${base}_last_message`);
    const queue = get(`sensor.${base}_queue`);
    const protocol = { ocpp201: "OCPP 2.0.1", ocpp16: "OCPP 1.6J" }[base] || base;
    block(`CSMS link (${protocol})`, [
      ["Connection", `${conn.state} since ${ago(conn.last_changed)}`],
      ["URL", conn.attributes.url ? safeUrl(conn.attributes.url) : undefined],
      ["Role", conn.attributes.role],
      ["Last message", lastMessage ? `${lastMessage.state} (${ago(lastMessage.last_changed)})` : undefined],
      ["Last error", lastError ? lastError.state : undefined],
      ["Messages waiting", queue ? queue.state : undefined],
    ].filter(([, v]) => v !== undefined && v !== null));
  }
  if (!roles.csms.length) root.append(el("p", { class: "card" }, "No CSMS link is configured (ocpp201 / ocpp16)."));
  if (roles.tunnel.length) block("Tunnel (ngrok)", roles.tunnel.map((s) => [friendly(s), /^https?:/.test(s.state) ? safeUrl(s.state) : s.state]));
  else root.append(el("p", { class: "card" }, "No tunnel is configured (ngrok)."));
  if (roles.supply.length) block("Power supply", roles.supply.map((s) => [friendly(s), display(s)]));
}

const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

async function renderLogs() {
  const root = $("logs");
  root.textContent = "Loading…";
  try {
    view.logText = await (await api("/api/error_log")).text();
  } catch (err) {
    root.textContent = `The log could not be read: ${err.message}`;
    return;
  }
  const min = LEVELS.indexOf($("log-level").value);
  const shown = [];
  let keep = true;
  for (const line of view.logText.split("\n")) {
    const match = / (DEBUG|INFO|WARNING|ERROR|CRITICAL) /.exec(line.slice(0, 60));
    if (match) keep = LEVELS.indexOf(match[1]) >= min; // a traceback follows its line
    if (keep && line) shown.push(line);
  }
  root.textContent = shown.length ? shown.join("\n") : "No log line at this level.";
}

function downloadLogs() {
  const blob = new Blob([view.logText || ""], { type: "text/plain" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `orge-log-${new Date().toISOString().slice(0, 19).replace(/:/g, "")}.txt` });
  document.body.append(link);
  link.click();
  link.remove();
}

async function renderSystem() {
  const list = $("station-config");
  list.replaceChildren();
  const config = view.config;
  const rows = [["Station", config.location_name], ["Station id", config.station_id], ["Version", config.version],
    ["Time zone", config.time_zone], ["Mode", config.recovery_mode ? "recovery" : config.using_last_good ? "last good configuration" : "normal"]];
  try {
    const health = await (await api("/api/health")).json();
    if (health.status) rows.push(["Health", health.status]);
    if (health.uptime_s !== undefined) rows.push(["Uptime", formatDuration(health.uptime_s)]);
    if (health.failed_components && health.failed_components.length) rows.push(["Failed components", health.failed_components.join(", ")]);
  } catch (err) { /* no health endpoint on this version */ }
  rows.push(["Update", config.update_status || "No update information on this version."]);
  rows.push(["Components", (config.components || []).join(", ")]);
  // The absolute config path is not shown: the viewer may be remote.
  for (const [k, v] of rows) list.append(el("dt", {}, k), el("dd", {}, v ?? "–"));
  loadTraces();
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

const TABS = ["status", "sessions", "history", "logbook", "alerts", "network", "logs", "system", "entities"];

function selectTab(name) {
  view.tab = name;
  for (const button of document.querySelectorAll(".tabs button")) {
    const active = button.dataset.tab === name;
    button.classList.toggle("active", active);
    if (active) button.setAttribute("aria-current", "page"); else button.removeAttribute("aria-current");
  }
  for (const tab of TABS) $(`tab-${tab}`).hidden = tab !== name;
  if (!view.ready) return;
  if (name === "sessions") renderSessions();
  else if (name === "history") { historyChoices(); renderHistory(); }
  else if (name === "logbook") renderLogbook();
  else if (name === "alerts") renderAlerts();
  else if (name === "network") renderNetwork();
  else if (name === "logs") renderLogs();
  else if (name === "system") renderSystem();
  else if (name === "entities") renderEntities();
  if (document.body.classList.contains("stale")) setStale(true);
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
  $("btn-start").addEventListener("click", () => runAction("authorize"));
  $("btn-stop").addEventListener("click", () => runAction("stop_charging"));
  $("limit").addEventListener("input", () => { $("limit-value").textContent = `${$("limit").value} A`; });
  $("limit").addEventListener("change", setLimit);
  $("history-entity").addEventListener("change", renderHistory);
  $("history-range").addEventListener("change", renderHistory);
  $("history-apply").addEventListener("click", renderHistory);
  $("logbook-refresh").addEventListener("click", renderLogbook);
  $("logbook-all").addEventListener("change", renderLogbook);
  $("log-level").addEventListener("change", renderLogs);
  $("logs-refresh").addEventListener("click", renderLogs);
  $("logs-download").addEventListener("click", downloadLogs);
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }
  // The session clock ticks; "changed … ago" stays honest without a reload.
  setInterval(() => { if (!document.body.classList.contains("stale")) renderStation(); }, 1000);
  setInterval(() => {
    for (const [entityId, card] of view.cards) {
      const state = view.states.get(entityId);
      if (state) card.root.querySelector(".meta").textContent = `${entityId} · changed ${ago(state.last_changed)}`;
    }
  }, 15000);
  connect();
});
