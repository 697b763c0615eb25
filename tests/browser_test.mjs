// Browser test of the chat page served by build/wscluster-node, in headless Chromium
// (Debian's /usr/bin/chromium) driven by playwright-core.
//
// Setup:  npm install --prefix tests/.npm ws playwright-core   (and: apt-get install chromium)
// Run:    node --test tests/browser_test.mjs
// Env:    WSC_NODE_BIN (default build/wscluster-node), CHROMIUM_BIN (default /usr/bin/chromium)
// Leaves a screenshot in build/chat.png.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(ROOT, 'tests/.npm/node_modules/'));
function load(name) {
  try {
    return require(name);
  } catch (e) {
    throw new Error(`cannot load ${name} (${e.message}): run  npm install --prefix tests/.npm ws playwright-core`);
  }
}
const { chromium } = load('playwright-core');

const NODE_BIN = path.resolve(ROOT, process.env.WSC_NODE_BIN || 'build/wscluster-node');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOT = path.join(ROOT, 'build/chat.png');
const T = 10_000;

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Start the node; resolves once its `listening ws://` line has been printed. */
async function startNode(listen = '127.0.0.1:0') {
  assert.ok(fs.existsSync(NODE_BIN), `node binary not found: ${NODE_BIN} (run make)`);
  const proc = spawn(NODE_BIN, ['--listen', listen], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err = (err + d).slice(-16384); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /^listening ws:\/\/127\.0\.0\.1:(\d+)\s*$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on('error', reject);
    exited.then(({ code, signal }) =>
      reject(new Error(`node exited early (code ${code}, signal ${signal})\nstderr:\n${err}`)));
  });
  const port = await withTimeout(ready, T, 'node "listening ws://" line');
  return {
    proc, port,
    http: `http://127.0.0.1:${port}`,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return withTimeout(exited, T, 'node exit after SIGTERM');
    },
    kill() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); },
  };
}

let node;
let browser;
const problems = [];      // console errors/warnings and page errors, as "page: text"
let allowConnFailures = false; // while the node is deliberately down

function watch(page, label) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const text = msg.text();
    // While the server is down on purpose, Chromium itself logs each failed reconnect attempt.
    if (allowConnFailures && /^WebSocket connection to .* failed/.test(text)) return;
    problems.push(`${label} console.${msg.type()}: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`${label} pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (!r.url().startsWith('ws')) problems.push(`${label} requestfailed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${label} HTTP ${r.status()} for ${r.url()}`);
  });
}

async function openChat(name) {
  const ctx = await browser.newContext({ viewport: { width: 760, height: 460 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  watch(page, name);
  await page.goto(`${node.http}/#name=${encodeURIComponent(name)}`);
  await page.locator('#status').filter({ hasText: /^connected$/ }).waitFor();
  assert.equal(await page.inputValue('#name'), name);
  return page;
}

const msgTexts = (page) => page.locator('#log .msg').allTextContents();

async function waitForMsg(page, text) {
  await page.locator('#log .msg', { hasText: text }).last().waitFor();
  const all = await msgTexts(page);
  assert.ok(all.includes(text), `expected a message exactly "${text}" in ${JSON.stringify(all)}`);
}

async function send(query) {
  const res = await withTimeout(fetch(`${node.http}/send?${query}`), T, 'GET /send');
  const body = await res.text();
  assert.equal(res.status, 200, body);
  return JSON.parse(body);
}

let alice;
let bob;

before(async () => {
  node = await startNode();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (node) node.kill();
});

test('two pages connect with their own names', { timeout: 30_000 }, async () => {
  alice = await openChat('alice');
  bob = await openChat('bob');
  assert.equal(await alice.textContent('#status'), 'connected');
  assert.equal(await bob.textContent('#status'), 'connected');
});

test('a message typed in page A shows up with A\'s name in page B (and in A)', { timeout: 30_000 }, async () => {
  await alice.fill('#input', 'hello from alice');
  await alice.click('#send');
  await waitForMsg(bob, 'alice: hello from alice');
  await waitForMsg(alice, 'alice: hello from alice');
  assert.equal(await alice.inputValue('#input'), '', 'input is cleared after sending');
  // Enter in the input sends too
  await bob.fill('#input', 'bob here');
  await bob.press('#input', 'Enter');
  await waitForMsg(alice, 'bob: bob here');
});

test('GET /send?msg=hello appears in both pages', { timeout: 30_000 }, async () => {
  const r = await send('msg=hello');
  assert.equal(r.ok, true);
  assert.ok(r.delivered >= 2, `delivered ${r.delivered}`);
  await waitForMsg(alice, '?: hello');
  await waitForMsg(bob, '?: hello');
});

test('JSON via /send?user= reaches only that user; binary is summarized', { timeout: 30_000 }, async () => {
  const r = await send(`user=bob&msg=${encodeURIComponent(JSON.stringify({ user: 'bot', text: 'only bob' }))}`);
  assert.equal(r.delivered, 1);
  await waitForMsg(bob, 'bot: only bob');
  const res = await fetch(`${node.http}/send`, {
    method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 2]),
  });
  assert.equal(res.status, 200);
  await waitForMsg(alice, '?: [binary 3 bytes]');
  await waitForMsg(bob, '?: [binary 3 bytes]');
  assert.ok(!(await msgTexts(alice)).includes('bot: only bob'), 'targeted message leaked to alice');
});

test('message content is rendered as text, not HTML', { timeout: 30_000 }, async () => {
  const evil = '<img src=x id=pwn><b>bold</b>';
  await alice.fill('#input', evil);
  await alice.click('#send');
  await waitForMsg(bob, `alice: ${evil}`);
  const evilName = '<i>mallory</i>';
  await send(`msg=${encodeURIComponent(JSON.stringify({ user: evilName, text: '<script>x()</script>' }))}`);
  await waitForMsg(bob, `${evilName}: <script>x()</script>`);
  for (const p of [alice, bob]) {
    assert.equal(await p.locator('#log img, #log b, #log i, #log script').count(), 0);
  }
});

test('no console errors or warnings so far; screenshot', { timeout: 30_000 }, async () => {
  fs.mkdirSync(path.dirname(SHOT), { recursive: true });
  await bob.screenshot({ path: SHOT });
  assert.deepEqual(problems, []);
});

test('pages reconnect after the node restarts on the same port', { timeout: 60_000 }, async () => {
  const port = node.port;
  allowConnFailures = true;
  const { code, signal } = await node.stop();
  assert.equal(signal, null, `node died by signal ${signal}\n${node.stderr()}`);
  assert.equal(code, 0, `node exit code ${code}\n${node.stderr()}`);
  for (const p of [alice, bob]) {
    await p.locator('#status').filter({ hasNotText: /^connected$/ }).waitFor();
  }
  node = await startNode(`127.0.0.1:${port}`);
  for (const p of [alice, bob]) {
    await p.locator('#status').filter({ hasText: /^connected$/ }).waitFor({ timeout: 30_000 });
  }
  allowConnFailures = false;
  await alice.fill('#input', 'back again');
  await alice.click('#send');
  await waitForMsg(bob, 'alice: back again');
  assert.deepEqual(problems, []);
});

test('node exits 0 on SIGTERM', { timeout: T }, async () => {
  const { code, signal } = await node.stop();
  assert.equal(signal, null, `node died by signal ${signal}\n${node.stderr()}`);
  assert.equal(code, 0, `node exit code ${code}\n${node.stderr()}`);
});
