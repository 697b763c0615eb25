// Helpers shared by the Node test suites (node_interop.mjs, browser_test.mjs,
// browser_cluster.mjs, browser_view.mjs): the npm packages in tests/.npm, a
// build/wscluster-node process or a cluster of them, and headless Chromium pages.
//
// Setup:  npm install --prefix tests/.npm ws playwright-core   (sh tests/deps.sh)
// Env:    WSC_NODE_BIN (default build/wscluster-node), CHROMIUM_BIN (default /usr/bin/chromium)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const NODE_BIN = path.resolve(ROOT, process.env.WSC_NODE_BIN || 'build/wscluster-node');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const require = createRequire(path.join(ROOT, 'tests/.npm/node_modules/'));

/** A package installed in tests/.npm (ws, playwright-core). */
export function load(name) {
  try {
    return require(name);
  } catch (e) {
    throw new Error(`cannot load ${name} (${e.message}): run  npm install --prefix tests/.npm ws playwright-core`);
  }
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Start build/wscluster-node with `--listen LISTEN ...args`; resolves once its
 * `listening ws://127.0.0.1:PORT` line is out (with a fixed LISTEN port: that port).
 * `id`: names the node in messages; `env`: added to this process's environment;
 * `timeout`: ms for the listening line, and for the exit after stop().
 */
export async function startNode({ listen = '127.0.0.1:0', args = [], env = {}, id = '',
  timeout = 10_000 } = {}) {
  const name = id ? `node ${id}` : 'node';
  assert.ok(fs.existsSync(NODE_BIN), `node binary not found: ${NODE_BIN} (run make)`);
  const proc = spawn(NODE_BIN, ['--listen', listen, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err = (err + d).slice(-16384); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /^listening ws:\/\/([\d.]+):(\d+)\s*$/m.exec(out);
      if (m) resolve({ host: m[1], port: Number(m[2]) });
    });
    proc.on('error', reject);
    exited.then(({ code, signal }) =>
      reject(new Error(`${name} exited early (code ${code}, signal ${signal})\nstderr:\n${err}`)));
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const kill = () => { if (alive()) proc.kill('SIGKILL'); };
  let host;
  let port;
  try {
    ({ host, port } = await withTimeout(ready, timeout, `${name} "listening ws://" line`));
    assert.equal(host, '127.0.0.1');
    const want = Number(listen.slice(listen.lastIndexOf(':') + 1));
    if (want) assert.equal(port, want, `${name} listens on another port than asked`);
  } catch (e) {
    kill();
    throw e;
  }
  return {
    id, proc, port, exited, alive, kill,
    ws: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    stderr: () => err,
    /** SIGTERM, wait for the exit, return {code, signal}. */
    async stop() {
      if (alive()) proc.kill('SIGTERM');
      return withTimeout(exited, timeout, `${name} exit after SIGTERM`);
    },
  };
}

/** Assert that stop()'s result is a clean exit (status 0, no signal). */
export function assertCleanExit(node, { code, signal }) {
  const name = node.id ? `node ${node.id}` : 'node';
  assert.equal(signal, null, `${name} died by signal ${signal}\n${node.stderr()}`);
  assert.equal(code, 0, `${name} exit code ${code}\n${node.stderr()}`);
}

/** n distinct free 127.0.0.1 ports (held open together, then released). */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', resolve);
      });
      servers.push(srv);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** Link settings for a cluster that notices a dead instance within a second. */
export const SHORT_HEARTBEATS = ['--heartbeat-ms', '200', '--heartbeat-timeout-ms', '1000',
  '--refresh-ms', '500'];

/**
 * `n` instances on fixed 127.0.0.1 ports from one shared server list in a temporary
 * directory (each skips its own entry) and one random cluster secret, ids `${prefix}-1`...;
 * `args` and `env` go to every instance. Retried on new ports if one got taken. Returns
 * { nodes, peersFile, start(id, port) (one more instance like them, e.g. a restart),
 * remove() (the directory) }.
 */
export async function startCluster({ n = 3, prefix = 'cl', args = [], env = {}, timeout = 10_000 } = {}) {
  env = { WSCLUSTER_SECRET: crypto.randomBytes(12).toString('hex'), ...env };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsc-cluster-'));
  const peersFile = path.join(dir, 'peers.txt');
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  const start = (id, port) => startNode({
    id, listen: `127.0.0.1:${port}`, args: ['--id', id, '--peers', peersFile, ...args], env, timeout,
  });
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(n);
    fs.writeFileSync(peersFile, ['# wscluster test cluster: every instance reads this file',
      ...ports.map((p) => `127.0.0.1:${p}`), ''].join('\n'));
    const nodes = [];
    try {
      for (let i = 0; i < n; i++) nodes.push(await start(`${prefix}-${i + 1}`, ports[i]));
      return { nodes, peersFile, start, remove };
    } catch (e) {
      for (const node of nodes) node.kill();
      if (attempt >= 3 || !/address already in use|bind/i.test(e.message)) {
        remove();
        throw e;
      }
    }
  }
}

// ------------------------------------------------------------------ the chat page --

/** Headless Chromium (Debian's) through playwright-core. */
export function launchChromium() {
  return load('playwright-core').chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Chat pages in one browser, watched: their console errors and warnings, page errors,
 * failed requests and HTTP errors pile up in `problems` (as "label: text"). While
 * `allowConnFailures` is set (a node is down on purpose), Chromium's own log lines about
 * failed WebSocket reconnects are let through.
 */
export class ChatPages {
  constructor(browser, { viewport, timeout }) {
    this.browser = browser;
    this.viewport = viewport;
    this.timeout = timeout;
    this.problems = [];
    this.allowConnFailures = false;
  }

  watch(page, label) {
    const problems = this.problems;
    page.on('console', (msg) => {
      if (msg.type() !== 'error' && msg.type() !== 'warning') return;
      const text = msg.text();
      if (this.allowConnFailures && /^WebSocket connection to .* failed/.test(text)) return;
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

  /** A new page with the chat of `node` as `name`, once it shows "connected". */
  async open(node, name, label = name) {
    const ctx = await this.browser.newContext({ viewport: this.viewport });
    const page = await ctx.newPage();
    page.setDefaultTimeout(this.timeout);
    this.watch(page, label);
    await page.goto(`${node.http}/#name=${encodeURIComponent(name)}`);
    await page.locator('#status').filter({ hasText: /^connected$/ }).waitFor();
    assert.equal(await page.inputValue('#name'), name);
    return page;
  }
}

export const msgTexts = (page) => page.locator('#log .msg').allTextContents();

/** Wait until the page shows a message that is exactly `text`. */
export async function waitForMsg(page, text) {
  await page.locator('#log .msg', { hasText: text }).last().waitFor();
  const all = await msgTexts(page);
  assert.ok(all.includes(text), `expected a message exactly "${text}" in ${JSON.stringify(all)}`);
}
