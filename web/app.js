// The edgeway dashboard: fleet overview, live per-sensor charts with anomaly markers, the
// insights feed and each device's reported state. Talks to /api/v1 of the gateway serving it.
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
    document.getElementById('rejected').textContent = number(s.messages_rejected);
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

async function refreshFleet() {
  let body;
  try { body = await api('/api/v1/devices'); } catch (e) { return; }
  const rows = document.getElementById('fleet-rows');
  rows.replaceChildren();
  let online = 0;
  for (const d of body.devices) {
    if (d.status === 'online') online++;
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
  document.getElementById('devices').textContent = online + ' / ' + body.devices.length;
  if (!state.device && body.devices.length) selectDevice(params.get('device') || body.devices[0].id);
}

async function refreshTwin() {
  if (!state.device) return;
  let d;
  try { d = await api('/api/v1/devices/' + encodeURIComponent(state.device)); } catch (e) { return; }
  const body = document.querySelector('#twin tbody');
  body.replaceChildren();
  for (const s of d.sensors) {
    body.append(el('tr', {}, el('td', {}, s.sensor),
      el('td', {}, value(s.value) + (s.unit ? ' ' + s.unit : '')), el('td', {}, ago(s.t))));
  }
  document.getElementById('device-title').textContent =
    d.id + ' · ' + d.status + ' · ' + number(d.readings) + ' readings, ' + number(d.anomalies) + ' anomalies';
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

refreshSummary();
refreshFleet();
loadInsights();
setInterval(refreshSummary, 2000);
setInterval(refreshFleet, 2000);
setInterval(refreshTwin, 2000);
