// The edgeway dashboard: fleet overview, live per-sensor charts with anomaly markers, the
// insights feed, each device's twin and window results. Talks to /api/v1 of the gateway
// serving it.
'use strict';

const params = new URLSearchParams(location.search);
const token = params.get('access_token');
const MAX_POINTS = 600;

const state = {
  device: null,
  charts: {},       // sensor -> {plot, t: [], v: [], a: [], el}
  stream: null,
  lastSummary: null,
  lastSummaryAt: 0,
};

// What the browser test (and a curious user) can read off the page.
window.edgeway = {
  points: () => Object.values(state.charts).reduce((n, c) => n + c.v.length, 0),
  markers: () => Object.values(state.charts).reduce((n, c) => n + c.a.filter((x) => x != null).length, 0),
  device: () => state.device,
};

function withToken(path) {
  if (!token) return path;
  return path + (path.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token);
}

async function api(path) {
  const res = await fetch(withToken(path));
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

const fmt = new Intl.NumberFormat();
function number(x) { return fmt.format(x); }
// "1 anomaly", "2 anomalies".
function count(x, one, many) { return number(x) + ' ' + (x === 1 ? one : many); }
function value(x) { return Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(4).replace(/\.?0+$/, ''); }
function ago(seconds) {
  const d = Date.now() / 1000 - seconds;
  if (d < 2) return 'now';
  if (d < 120) return Math.round(d) + ' s ago';
  if (d < 7200) return Math.round(d / 60) + ' min ago';
  return new Date(seconds * 1000).toLocaleString();
}
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  for (const c of children) e.append(c);
  return e;
}

async function refreshSummary() {
  try {
    const s = await api('/api/v1/summary');
    const now = performance.now();
    if (state.lastSummary) {
      const dt = (now - state.lastSummaryAt) / 1000;
      const rate = (s.messages_received - state.lastSummary.messages_received) / dt;
      document.getElementById('rate').textContent = number(Math.max(0, Math.round(rate)));
    }
    state.lastSummary = s;
    state.lastSummaryAt = now;
    document.getElementById('stored').textContent = number(s.readings_stored);
    document.getElementById('anomalies').textContent = number(s.anomalies_detected);
    // Refused: messages, and readings one by one (the overflow policy's drops, implausible
    // values); the card's tooltip says by reason.
    const card = document.getElementById('rejected');
    card.textContent = number(s.messages_rejected + s.readings_rejected);
    const reasons = Object.entries(s.rejected).filter(([, n]) => n > 0);
    card.parentElement.title = reasons.length
      ? reasons.map(([reason, n]) => reason.replaceAll('_', ' ') + ': ' + number(n)).join(', ')
      : 'nothing refused';
    document.getElementById('broker').textContent = 'broker ' + s.broker;
    const ready = await fetch(withToken('/api/v1/health/ready'));
    const pill = document.getElementById('ready');
    pill.textContent = ready.ok ? 'ingesting' : 'broker disconnected';
    pill.className = 'pill ' + (ready.ok ? 'ok' : 'bad');
  } catch (e) {
    const pill = document.getElementById('ready');
    pill.textContent = 'gateway unreachable';
    pill.className = 'pill bad';
  }
}

// The fleet table lists at most FLEET_ROWS devices, in id order; the filter finds the others.
const FLEET_ROWS = 200;
let fleetRequest = 0;
async function refreshFleet() {
  const filter = document.getElementById('fleet-filter').value.trim();
  const request = ++fleetRequest;
  let body;
  try {
    body = await api('/api/v1/devices?limit=' + FLEET_ROWS + (filter ? '&match=' + encodeURIComponent(filter) : ''));
  } catch (e) { return; }
  if (request !== fleetRequest) return;  // a newer filter's answer is on its way
  const rows = document.getElementById('fleet-rows');
  rows.replaceChildren();
  for (const d of body.devices) {
    const tr = el('tr', {className: d.id === state.device ? 'selected' : ''},
      el('td', {}, d.id),
      el('td', {className: 'status-' + d.status}, d.status),
      el('td', {}, ago(d.last_seen)),
      el('td', {}, number(d.readings)),
      el('td', {className: d.anomalies ? 'bad' : ''}, number(d.anomalies)));
    tr.dataset.device = d.id;
    tr.onclick = () => selectDevice(d.id);
    rows.append(tr);
  }
  document.getElementById('devices').textContent = number(body.fleet.online) + ' / ' + number(body.fleet.devices);
  document.getElementById('fleet-more').textContent =
    body.total > body.count ? 'the first ' + number(body.count) + ' of ' + number(body.total) +
      (filter ? ' matching' : '') + ' devices; type part of an id to find one'
    : filter && body.total === 0 ? 'no device id contains "' + filter + '"' : '';
  if (!state.device && body.devices.length) selectDevice(params.get('device') || body.devices[0].id);
}
document.getElementById('fleet-filter').addEventListener('input', refreshFleet);

function show(x) {
  if (x === undefined) return '';
  if (typeof x === 'number') return value(x);
  return typeof x === 'string' ? x : JSON.stringify(x);
}

// The twin: reported and desired side by side, fields still in the delta marked, and the
// maintenance forecasts; then the device's latest event-time window results.
async function refreshTwin() {
  if (!state.device) return;
  const id = encodeURIComponent(state.device);
  let d, twin = null, windows = null;
  try { d = await api('/api/v1/devices/' + id); } catch (e) { return; }
  try { twin = await api('/api/v1/twins/' + id); } catch (e) { /* twins disabled, or none yet */ }
  try { windows = await api('/api/v1/windows?latest=1&limit=8&device=' + id); } catch (e) { /* none */ }
  document.getElementById('device-title').textContent =
    d.id + ' · ' + d.status + ' · ' + count(d.readings, 'reading', 'readings') + ', ' +
    count(d.anomalies, 'anomaly', 'anomalies');
  const units = Object.fromEntries(d.sensors.map((s) => [s.sensor, s.unit]));
  const body = document.querySelector('#twin tbody');
  body.replaceChildren();
  if (twin) {
    const {reported, desired, delta} = twin.state;
    const times = Object.assign({}, twin.metadata.reported, twin.metadata.desired);
    const fields = [...new Set([...Object.keys(reported), ...Object.keys(desired)])].sort();
    for (const f of fields) {
      const tr = el('tr', {className: f in delta ? 'delta' : ''}, el('td', {}, f),
        el('td', {}, show(reported[f]) + (units[f] && f in reported ? ' ' + units[f] : '')),
        el('td', {}, show(desired[f])), el('td', {}, times[f] ? ago(times[f]) : ''));
      if (f in delta) tr.title = 'desired, not yet reported by the device';
      body.append(tr);
    }
    document.getElementById('twin-version').textContent = 'version ' + twin.version +
      (Object.keys(delta).length ? ' · ' + Object.keys(delta).length + ' pending' : '');
    const list = document.getElementById('maintenance');
    list.replaceChildren();
    for (const [sensor, m] of Object.entries(twin.maintenance || {})) {
      const text = m.eta_s === null ? 'not heading for its limit'
        : m.eta_s === 0 ? 'past its limit' : 'crosses ' + value(m.limit) + ' around ' + new Date(m.eta).toLocaleString();
      list.append(el('li', {className: m.eta_s === 0 ? 'bad' : ''}, sensor + ' (' + m.direction + ' ' + value(m.limit) + '): ' + text));
    }
  } else {
    for (const s of d.sensors) {
      body.append(el('tr', {}, el('td', {}, s.sensor), el('td', {}, value(s.value) + (s.unit ? ' ' + s.unit : '')),
        el('td', {}, ''), el('td', {}, ago(s.t))));
    }
  }
  const wbody = document.querySelector('#windows tbody');
  wbody.replaceChildren();
  for (const w of (windows ? windows.windows : []).reverse()) {
    wbody.append(el('tr', {}, el('td', {}, w.window), el('td', {}, w.sensor),
      el('td', {}, new Date(w.start * 1000).toLocaleTimeString()), el('td', {}, number(w.count)),
      el('td', {}, value(w.mean)), el('td', {}, value(w.min)), el('td', {}, value(w.max)),
      el('td', {}, w.percentiles.p90 === undefined ? '' : value(w.percentiles.p90))));
  }
}

function chartFor(sensor, unit) {
  if (state.charts[sensor]) return state.charts[sensor];
  const box = el('div', {className: 'chart'}, el('div', {className: 'title'}, sensor + (unit ? ' (' + unit + ')' : '')));
  box.dataset.sensor = sensor;
  document.getElementById('charts').append(box);
  const c = {t: [], v: [], a: [], el: box, pendingMarkers: new Map()};
  const width = Math.max(320, document.getElementById('charts').clientWidth - 4);
  c.plot = new uPlot({
    width, height: 160,
    legend: {show: false},
    cursor: {drag: {x: false, y: false}},
    scales: {x: {time: true}},
    series: [
      {},
      {label: sensor, stroke: '#2563eb', width: 1.5, points: {show: false}},
      {label: 'anomaly', stroke: '#dc2626', width: 0, paths: () => null,
       points: {show: true, size: 9, fill: '#dc2626', stroke: '#dc2626'}},
    ],
  }, [c.t, c.v, c.a], box);
  state.charts[sensor] = c;
  return c;
}

let redrawQueued = false;
function redraw() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    for (const c of Object.values(state.charts)) {
      c.plot.setData([c.t, c.v, c.a]);
      c.el.dataset.points = c.v.length;
      c.el.dataset.markers = c.a.filter((x) => x != null).length;
    }
  });
}

function addReading(r) {
  const c = chartFor(r.sensor, r.unit);
  if (c.t.length && r.t <= c.t[c.t.length - 1]) {
    if (r.t === c.t[c.t.length - 1]) return;  // already there (initial load and stream overlap)
  }
  c.t.push(r.t);
  c.v.push(r.value);
  const marker = c.pendingMarkers.get(r.ts_ns);
  c.a.push(marker === undefined ? null : marker);
  c.pendingMarkers.delete(r.ts_ns);
  if (c.t.length > MAX_POINTS) { c.t.shift(); c.v.shift(); c.a.shift(); }
}

function markAnomaly(insight) {
  if (insight.kind !== 'anomaly' || insight.device !== state.device) return;
  const c = chartFor(insight.sensor);
  for (let i = c.t.length - 1; i >= 0; i--) {
    if (Math.abs(c.t[i] - insight.t) < 1e-6) { c.a[i] = insight.value; return; }
    if (c.t[i] < insight.t) break;
  }
  c.pendingMarkers.set(insight.ts_ns, insight.value);
}

function addInsight(insight, prepend) {
  const li = el('li', {className: insight.kind},
    el('span', {className: 'kind'}, insight.kind),
    insight.summary + ' (' + Math.round(insight.confidence * 100) + '%)',
    el('span', {className: 'when'}, new Date(insight.t * 1000).toLocaleTimeString() + ' · ' + insight.actions.join(', ')));
  const list = document.getElementById('insights');
  if (prepend) list.prepend(li); else list.append(li);
  while (list.children.length > 100) list.lastChild.remove();
}

async function selectDevice(id) {
  state.device = id;
  for (const c of Object.values(state.charts)) c.plot.destroy();
  state.charts = {};
  document.getElementById('charts').replaceChildren();
  for (const tr of document.querySelectorAll('#fleet-rows tr')) tr.classList.toggle('selected', tr.dataset.device === id);
  if (state.stream) state.stream.close();
  const q = encodeURIComponent(id);
  const [readings, anomalies] = await Promise.all([
    api('/api/v1/readings?latest=1&limit=' + (MAX_POINTS * 3) + '&device=' + q),
    api('/api/v1/anomalies?latest=1&limit=500&device=' + q),
  ]);
  for (const r of readings.readings) addReading(r);
  for (const a of anomalies.insights) markAnomaly(a);
  redraw();
  refreshTwin();
  state.stream = new EventSource(withToken('/api/v1/stream?device=' + q));
  state.stream.addEventListener('readings', (e) => {
    for (const r of JSON.parse(e.data).readings) if (r.device === state.device) addReading(r);
    redraw();
  });
  state.stream.addEventListener('insight', (e) => {
    const insight = JSON.parse(e.data);
    addInsight(insight, true);
    markAnomaly(insight);
    redraw();
  });
}

async function loadInsights() {
  try {
    const body = await api('/api/v1/insights?latest=1&limit=50');
    for (const i of body.insights.reverse()) addInsight(i, false);
  } catch (e) { /* shown by the status pill */ }
}

window.addEventListener('resize', () => {
  const width = Math.max(320, document.getElementById('charts').clientWidth - 4);
  for (const c of Object.values(state.charts)) c.plot.setSize({width, height: 160});
});

// Which anomaly detector the pipeline runs: its insights read differently.
async function loadPipeline() {
  try {
    const body = await api('/api/v1/pipelines');
    const a = body.pipelines[0].analytics;
    const describe = (o) => o.detector === 'ensemble'
      ? 'ensemble (score ≥ ' + o.anomaly_threshold + ', after ' + o.ensemble_warmup +
        ' readings of a sensor)'
      : o.sigma + '-sigma over ' + o.window + ' readings';
    // Sensors with options of their own (analytics.per_sensor), after the default.
    const others = (a.per_sensor || []).map((s) => '; ' + s.sensors.join(', ') + ': ' + describe(s));
    document.getElementById('detector').textContent = 'detector ' + describe(a) + others.join('');
  } catch (e) { /* shown by the status pill */ }
}

loadPipeline();
refreshSummary();
refreshFleet();
loadInsights();
setInterval(refreshSummary, 2000);
setInterval(refreshFleet, 2000);
setInterval(refreshTwin, 2000);
