// The TradeAssist dashboard: reads /api/* and /ws/realtime of the runner that serves it.
//
// Plain browser JavaScript, no framework and no build step. Everything shown comes from
// the API; text from the server (rule names, messages, file errors) is only ever set as
// textContent, never parsed as HTML.
//
// With TRADEASSIST_API_TOKEN set on the runner, the first 401 shows a form; the token goes
// to sessionStorage (this tab only, gone when it closes), into an Authorization header for
// HTTP and into a WebSocket subprotocol for /ws/realtime: never into a URL.
"use strict";

(() => {
  const TOKEN_KEY = "tradeassist.api_token";
  const MAX_ALERTS = 200;
  const RULES_EVERY_MS = 2000;
  const DELIVERY_EVERY_MS = 3000;
  const INSTRUMENTS_EVERY_MS = 10000;
  const STATUS_EVERY_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    instruments: new Map(), // symbol -> {info, row, points, lastStep}
    alerts: new Map(), // alert_id -> {alert, row, via}
    newestAlertTs: null,
    rules: [],
    ruleFiles: "",
    socket: null,
    retryMs: 500,
    timers: [],
    started: false,
  };

  class Unauthorized extends Error {}

  // -- small DOM helpers --------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "title") node.title = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Times are UTC (tick time): "2026-01-05 14:30:07"; clock() keeps only the time of day.
  const time = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "–");
  const clock = (iso) => (iso ? time(iso).slice(11) : "–");
  const price = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 4 }));
  function seconds(s) {
    if (s === null || s === undefined) return "–";
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
    if (s < 86400 * 2) return `${(s / 3600).toFixed(1)}h`;
    return `${(s / 86400).toFixed(1)}d`;
  }

  // -- the API ------------------------------------------------------------------------------

  async function api(path) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    const response = await fetch(path, { headers, cache: "no-store" });
    if (response.status === 401) throw new Unauthorized(path);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function askForToken(message) {
    stop();
    $("main").hidden = true;
    $("token-form").hidden = false;
    const error = $("token-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("token-input").focus();
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    state.token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token-input").value = "";
    start();
  });

  function failed(error) {
    if (error instanceof Unauthorized) {
      const hadToken = Boolean(state.token);
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      askForToken(hadToken ? "That token was refused." : "");
      return true;
    }
    console.warn(error);
    return false;
  }

  // -- instruments --------------------------------------------------------------------------

  function sparkline(points) {
    const width = 96, height = 24;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const first = points[0], last = points[points.length - 1];
    svg.setAttribute("class", "spark");
    svg.dataset.trend = points.length < 2 || last === first ? "flat" : last > first ? "up" : "down";
    if (points.length) {
      const lo = Math.min(...points), hi = Math.max(...points), span = hi - lo || 1;
      const dx = points.length > 1 ? width / (points.length - 1) : 0;
      const coords = points.map((p, i) => `${(i * dx).toFixed(1)},${(height - 2 - ((p - lo) / span) * (height - 4)).toFixed(1)}`);
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("points", coords.join(" "));
      svg.append(line);
    }
    svg.dataset.points = String(points.length);
    return svg;
  }

  function renderInstrument(entry) {
    const { info, row } = entry;
    const change = info.last_price !== null && info.first_price !== null ? info.last_price - info.first_price : null;
    const pct = change !== null && info.first_price ? (change / Math.abs(info.first_price)) * 100 : null;
    const cls = change === null || change === 0 ? "" : change > 0 ? "up" : "down";
    const sign = change > 0 ? "+" : "";
    const flags = [];
    if (info.delayed) flags.push(el("span", { class: "pill pill-warn", title: "the feed flags this data as delayed" }, "delayed"));
    if (info.silent_since) flags.push(el("span", { class: "pill pill-off", title: `silent since ${info.silent_since}` }, "silent"));
    row.replaceChildren(
      el("td", { class: "symbol" }, info.symbol, " ", ...flags),
      el("td", { class: "name", title: info.name || "" }, info.name || ""),
      el("td", { class: "num last" }, price(info.last_price)),
      el("td", { class: `num change ${cls}` }, change === null ? "–" : `${sign}${price(change)}${pct === null ? "" : ` (${sign}${pct.toFixed(2)}%)`}`),
      el("td", { class: "trend" }, sparkline(entry.points)),
      el("td", { class: "num ticks" }, info.ticks.toLocaleString("en-US")),
      el("td", { class: "when", title: info.last_tick_at || "" }, clock(info.last_tick_at)),
    );
  }

  const stepOf = (iso, stepSeconds) => Math.floor(Date.parse(iso) / (stepSeconds * 1000));

  function showInstruments(list) {
    const body = $("instruments").tBodies[0];
    const seen = new Set();
    for (const info of list) {
      seen.add(info.symbol);
      let entry = state.instruments.get(info.symbol);
      if (!entry) {
        entry = { row: el("tr", { dataset: { symbol: info.symbol } }) };
        state.instruments.set(info.symbol, entry);
      }
      body.append(entry.row); // keeps the server's order
      entry.info = info;
      entry.points = info.sparkline.slice();
      entry.lastStep = info.last_tick_at ? stepOf(info.last_tick_at, info.sparkline_step_seconds) : null;
      renderInstrument(entry);
    }
    for (const [symbol, entry] of state.instruments) {
      if (!seen.has(symbol)) {
        entry.row.remove();
        state.instruments.delete(symbol);
      }
    }
  }

  function onTick(message) {
    const entry = state.instruments.get(message.symbol);
    if (!entry || message.price === null) return;
    const info = entry.info;
    if (info.last_tick_at && Date.parse(message.ts) < Date.parse(info.last_tick_at)) return; // older than shown
    if (info.first_price === null) info.first_price = message.price;
    info.last_price = message.price;
    info.last_tick_at = message.ts;
    info.ticks = message.ticks;
    const step = stepOf(message.ts, info.sparkline_step_seconds);
    if (entry.lastStep !== null && step <= entry.lastStep && entry.points.length) {
      entry.points[entry.points.length - 1] = message.price; // the same step: the latest price wins
    } else {
      entry.points.push(message.price);
      const keep = Math.max(info.sparkline.length, 300);
      if (entry.points.length > keep) entry.points.splice(0, entry.points.length - keep);
      entry.lastStep = step;
    }
    renderInstrument(entry);
  }

  // -- alerts -------------------------------------------------------------------------------

  function deliveryChips(alert) {
    const status = alert.delivery_status;
    if (!status) return [el("span", { class: "chip pending", title: "not yet in the alert log" }, "delivery: queued")];
    const channels = Object.keys(status).sort();
    if (!channels.length) return [el("span", { class: "chip" }, "no channels")];
    return channels.map((ch) => {
      const d = status[ch];
      const tip = d.error ? `${d.status} after ${d.attempts} attempt(s): ${d.error}` : `${d.status}, ${d.attempts} attempt(s)`;
      return el("span", { class: `chip ${d.status}`, title: tip, dataset: { channel: ch, status: d.status } }, `${ch}: ${d.status}`);
    });
  }

  function renderAlert(entry) {
    const a = entry.alert;
    const severity = a.severity || "info";
    entry.row.className = `sev-${severity}`;
    entry.row.dataset.severity = severity;
    entry.row.dataset.via = entry.via;
    entry.row.dataset.ts = a.ts;
    entry.row.replaceChildren(
      el("span", { class: "when", title: `tick time ${a.ts}` }, clock(a.ts)),
      el("span", { class: "sev" }, severity),
      el("span", { class: "msg", title: a.message || "" },
        el("strong", {}, a.rule_id), " ", el("span", { class: "muted" }, a.symbol), " ", a.message || ""),
      el("span", { class: "delivery" }, ...deliveryChips(a)),
    );
  }

  function addAlert(alert, via) {
    const known = state.alerts.get(alert.alert_id);
    if (known) {
      if (alert.delivery_status) known.alert = { ...known.alert, delivery_status: alert.delivery_status };
      renderAlert(known);
      return;
    }
    const entry = { alert, via, row: el("li", { dataset: { alertId: alert.alert_id } }) };
    state.alerts.set(alert.alert_id, entry);
    const list = $("alerts");
    // newest (tick time) first; ids break ties the way the log does
    let before = null;
    for (const child of list.children) {
      const other = state.alerts.get(child.dataset.alertId);
      if (other && other.alert.ts <= alert.ts) { before = child; break; }
    }
    list.insertBefore(entry.row, before);
    renderAlert(entry);
    if (!state.newestAlertTs || alert.ts > state.newestAlertTs) state.newestAlertTs = alert.ts;
    while (list.children.length > MAX_ALERTS) {
      const last = list.lastElementChild;
      state.alerts.delete(last.dataset.alertId);
      last.remove();
    }
    $("alert-count").textContent = `(${list.children.length} shown)`;
  }

  async function loadAlerts() {
    if (state.newestAlertTs) {
      // What the feed missed while the socket was down: everything from the newest shown on.
      let offset = 0;
      for (let page = 0; page < 4; page++) {
        const since = encodeURIComponent(state.newestAlertTs);
        const got = await api(`/api/alerts?since=${since}&order=asc&limit=500&offset=${offset}`);
        got.items.forEach((a) => addAlert(a, "log"));
        if (got.next_offset === null) break;
        offset = got.next_offset;
      }
    } else {
      const got = await api("/api/alerts?limit=100");
      got.items.reverse().forEach((a) => addAlert(a, "log"));
    }
  }

  function unsettled(alert) {
    const status = alert.delivery_status;
    return !status || Object.values(status).some((d) => d.status === "pending");
  }

  async function refreshDeliveries() {
    // alert_fired comes before delivery: the log has each channel's outcome. Asked from the
    // oldest shown alert still waiting on one, not for the newest hundred: a busy feed
    // would push it out of those before its outcome is written.
    let oldest = null;
    for (const { alert } of state.alerts.values()) {
      if (unsettled(alert) && (oldest === null || alert.ts < oldest)) oldest = alert.ts;
    }
    if (oldest === null) return;
    let offset = 0;
    for (let page = 0; page < 4; page++) {
      const got = await api(`/api/alerts?since=${encodeURIComponent(oldest)}&order=asc&limit=500&offset=${offset}`);
      for (const a of got.items) {
        const known = state.alerts.get(a.alert_id);
        if (known) addAlert(a, known.via);
      }
      if (got.next_offset === null) break;
      offset = got.next_offset;
    }
  }

  // -- rules --------------------------------------------------------------------------------

  function ruleCondition(r) {
    if (r.conditions) return r.series;
    return `${r.series} ${r.condition} ${r.threshold}`;
  }

  function ruleState(r) {
    const parts = [];
    if (r.state === "cooling_down") parts.push(`cooling down, ${seconds(r.cooldown_remaining_seconds)} left`);
    else parts.push(r.state);
    if (r.rearm !== null) parts.push(r.rearmed ? "re-armed" : "waiting to re-arm");
    if (r.for) parts.push(r.holding_since ? `holding since ${time(r.holding_since)} (for ${r.for})` : `for ${r.for}: not holding`);
    return parts.join(" · ");
  }

  function showRules() {
    const text = $("rule-filter").value.trim().toLowerCase();
    const wanted = $("rule-state").value;
    const body = $("rules").tBodies[0];
    const rows = [];
    for (const r of state.rules) {
      const haystack = [r.id, r.name, r.instrument, r.type, r.severity].join(" ").toLowerCase();
      if (text && !haystack.includes(text)) continue;
      if (wanted && r.state !== wanted) continue;
      rows.push(el("tr", { dataset: { rule: r.id, state: r.state } },
        el("td", { title: r.description || r.name || "" }, r.id),
        el("td", {}, r.instrument),
        el("td", { title: ruleCondition(r) }, ruleCondition(r)),
        el("td", { class: `state state-${r.state}` }, ruleState(r)),
        el("td", { class: "when" }, time(r.last_fired)),
        el("td", { class: "num" }, r.fire_count),
        el("td", { class: "loc", title: r.location }, r.location.split(/[\\/]/).pop()),
      ));
    }
    body.replaceChildren(...rows);
    $("rule-count").textContent = `${rows.length} of ${state.rules.length}`;
  }

  $("rule-filter").addEventListener("input", showRules);
  $("rule-state").addEventListener("change", showRules);

  async function loadRules() {
    state.rules = await api("/api/rules");
    showRules();
  }

  // -- status: feed health and reloads ------------------------------------------------------

  function list(node, items) {
    node.replaceChildren(...items.map((text) => el("li", {}, text)));
  }

  function showHealth(h) {
    // h: /api/status or a health_status message; both carry `feed` and `last_reload`.
    const feed = h.feed;
    const ready = $("ready");
    ready.textContent = h.ready ? "ready" : "not ready";
    ready.className = `pill ${h.ready ? "pill-on" : "pill-off"}`;
    ready.title = (h.not_ready || []).join("\n");
    const connected = $("feed-connected");
    connected.textContent = feed.connected ? "yes" : "no";
    connected.className = feed.connected ? "up" : "down";
    $("feed-lag").textContent = seconds(feed.lag_seconds);
    $("feed-ticks").textContent = (h.ticks_in ?? h.counters?.ticks_in ?? 0).toLocaleString("en-US");
    $("feed-delayed").textContent = feed.delayed.length ? feed.delayed.join(", ") : "none";
    const silent = Object.entries(feed.silent);
    $("feed-silent").textContent = silent.length ? silent.map(([s, since]) => `${s} since ${time(since)}`).join(", ") : "none";
    list($("feed-problems"), h.not_ready || []);

    const reload = h.last_reload;
    const summary = $("reload-summary");
    const errors = $("reload-errors");
    if (h.config_valid === false && reload) {
      summary.textContent = `The rule files do not validate (${time(reload.at)}); the previous rules keep running:`;
      summary.className = "error";
      list(errors, reload.errors);
    } else {
      const plan = h.plan_version ?? h.plan?.version;
      const rules = h.rules ?? h.plan?.rules;
      const files = h.plan ? ` in ${h.plan.rule_files.length} file${h.plan.rule_files.length === 1 ? "" : "s"}` : "";
      if (h.plan) state.ruleFiles = files;
      const when = reload ? ` · last reload ${time(reload.at)}` : "";
      summary.textContent = `valid · ${rules ?? "–"} rules${files || state.ruleFiles || ""} · plan ${plan ? plan.slice(0, 12) : "–"}${when}`;
      summary.className = "up";
      errors.replaceChildren();
    }
    $("reload-panel").dataset.valid = String(h.config_valid !== false);
  }

  async function loadStatus() {
    const status = await api("/api/status");
    $("feed-source").textContent = status.source.type;
    $("version").textContent = `v${status.version}`;
    showHealth(status);
  }

  // -- the WebSocket ------------------------------------------------------------------------

  function base64url(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function setLive(text, cls) {
    const live = $("live");
    live.textContent = text;
    live.className = `pill ${cls}`;
  }

  function connect() {
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws/realtime`;
    const protocols = ["tradeassist"];
    if (state.token) protocols.push(`tradeassist.bearer.${base64url(state.token)}`);
    const socket = new WebSocket(url, protocols);
    state.socket = socket;
    socket.addEventListener("open", () => {
      state.retryMs = 500;
      setLive("live", "pill-on");
      // Whatever fired while we were away (or before the page loaded) is in the log.
      loadAlerts().catch(failed);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === "tick_update") onTick(message);
      else if (message.type === "alert_fired") addAlert(message.alert, "live");
      else if (message.type === "health_status") showHealth(message);
    });
    socket.addEventListener("close", () => {
      if (state.socket !== socket) return; // replaced or stopped on purpose
      state.socket = null;
      setLive("reconnecting", "pill-off");
      const wait = state.retryMs;
      state.retryMs = Math.min(state.retryMs * 2, 5000);
      state.timers.push(setTimeout(() => {
        // A refused token shows as a plain close: ask the API, which says 401 clearly.
        loadStatus().then(connect, (error) => { if (!failed(error)) connect(); });
      }, wait));
    });
  }

  // -- lifecycle ----------------------------------------------------------------------------

  function every(ms, fn) {
    state.timers.push(setInterval(() => { if (state.started) fn().catch(failed); }, ms));
  }

  function stop() {
    state.started = false;
    for (const t of state.timers) { clearTimeout(t); clearInterval(t); }
    state.timers = [];
    if (state.socket) {
      const socket = state.socket;
      state.socket = null;
      socket.close();
    }
  }

  async function start() {
    stop();
    try {
      await loadStatus(); // the first call: a 401 here asks for the token
      $("token-form").hidden = true;
      $("main").hidden = false;
      const [instruments] = await Promise.all([api("/api/instruments"), loadRules()]);
      showInstruments(instruments);
      state.started = true;
      connect();
      every(RULES_EVERY_MS, loadRules);
      every(DELIVERY_EVERY_MS, refreshDeliveries);
      every(INSTRUMENTS_EVERY_MS, async () => showInstruments(await api("/api/instruments")));
      every(STATUS_EVERY_MS, loadStatus);
      document.body.dataset.ready = "true";
    } catch (error) {
      if (!failed(error)) {
        setLive("API unreachable", "pill-off");
        state.timers.push(setTimeout(start, 2000));
      }
    }
  }

  start();
})();
