// Loads the dashboard in Debian's chromium (driven by playwright-core) while `edgeway demo`
// runs, and checks what a person would look for: the fleet listed, live charts with data
// points, an injected anomaly marked on a chart, insights in the feed. Saves a screenshot.
//
//   EDGEWAY_BINARY=build/ci/edgeway SCREENSHOT=build/dashboard.png node --test ...
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(repo, 'web/package.json'));
const { chromium } = require('playwright-core');

const binary = process.env.EDGEWAY_BINARY || path.join(repo, 'build/ci/edgeway');
const screenshot = process.env.SCREENSHOT || path.join(repo, 'build/dashboard.png');

function startDemo(dir) {
  // The demo's default detector, the ensemble, judges from a sensor's 300th sample: 6 s at 0.02 s.
  const demo = spawn(binary, ['demo', '--devices', '8', '--duration', '60', '--interval', '0.02',
    '--anomaly-every', '100', '--http', '127.0.0.1:0', '--store', path.join(dir, 'demo.db')],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no dashboard URL within 20 s:\n' + output)), 20000);
    demo.stdout.on('data', (chunk) => {
      output += chunk;
      const m = output.match(/dashboard: (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    demo.stderr.on('data', (chunk) => { output += chunk; });
    demo.on('exit', (code) => reject(new Error(`demo exited (${code}) early:\n${output}`)));
  });
  const exited = new Promise((resolve) => demo.on('exit', (code) => resolve(code)));
  return { demo, url, exited };
}

test('dashboard shows live charts with an injected anomaly marked', { timeout: 120000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeway-browser-'));
  const { demo, url, exited } = startDemo(dir);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(await url);

    await page.waitForFunction(() => document.querySelectorAll('#fleet-rows tr').length === 8,
      null, { timeout: 30000 });
    await page.waitForFunction(() => window.edgeway.points() >= 60, null, { timeout: 30000 });
    // The first device gets an injected anomaly a few seconds after its warmup: a marker shows it.
    await page.waitForFunction(() => window.edgeway.markers() >= 1, null, { timeout: 45000 });

    const charts = await page.$$eval('#charts .chart', (els) => els.map((e) => ({
      sensor: e.dataset.sensor, points: Number(e.dataset.points), markers: Number(e.dataset.markers),
      canvas: !!e.querySelector('canvas'),
    })));
    assert.deepEqual(charts.map((c) => c.sensor).sort(), ['battery', 'humidity', 'temperature']);
    for (const c of charts) {
      assert.ok(c.canvas, `${c.sensor} chart has a canvas`);
      assert.ok(c.points > 0, `${c.sensor} chart has points`);
    }
    assert.ok(charts.some((c) => c.markers > 0), 'an anomaly marker is drawn');
    // The twin view: the device's sensors as reported fields, with a version.
    await page.waitForFunction(() => document.querySelectorAll('#twin tbody tr').length >= 3, null,
      { timeout: 15000 });
    assert.match(await page.$eval('#twin-version', (e) => e.textContent), /^version \d+/);
    // The demo's 10 s event-time window closes within a few seconds more.
    await page.waitForFunction(() => document.querySelectorAll('#windows tbody tr').length >= 1,
      null, { timeout: 30000 });
    const insights = await page.$$eval('#insights li.anomaly', (els) => els.length);
    assert.ok(insights > 0, 'the insights feed lists anomalies');
    assert.equal(await page.$eval('#detector', (e) => e.textContent),
      'detector ensemble (score ≥ 0.5, after 300 readings of a sensor)');
    // The demo sends some bad messages: the rejected card counts them, and says why on hover.
    await page.waitForFunction(() => /malformed: \d/.test(document.getElementById('rejected')
      .parentElement.title), null, { timeout: 30000 });
    assert.notEqual(await page.$eval('#rejected', (e) => e.textContent), '0');
    // The header counts the fleet; the filter finds a device by part of its id, and says when
    // none has it.
    assert.match(await page.$eval('#devices', (e) => e.textContent), /^\d+ \/ 8$/);
    await page.fill('#fleet-filter', '0003');
    await page.waitForFunction(() => document.querySelectorAll('#fleet-rows tr').length === 1,
      null, { timeout: 10000 });
    assert.equal(await page.$eval('#fleet-rows tr', (e) => e.dataset.device), 'sim-0003');
    await page.fill('#fleet-filter', 'nobody');
    await page.waitForFunction(() => document.querySelectorAll('#fleet-rows tr').length === 0,
      null, { timeout: 10000 });
    assert.equal(await page.$eval('#fleet-more', (e) => e.textContent),
      'no device id contains "nobody"');
    await page.fill('#fleet-filter', '');
    await page.waitForFunction(() => document.querySelectorAll('#fleet-rows tr').length === 8,
      null, { timeout: 10000 });
    const stored = await page.$eval('#stored', (e) => e.textContent);
    assert.notEqual(stored, '–');
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await browser.close();
    demo.kill('SIGINT');
    const code = await exited;
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, 'the demo exits cleanly on Ctrl-C');
  }
});
