// Browser test of the live cluster view (GET /cluster, updated over the /cluster WebSocket)
// on a 3-instance wscluster-node cluster, in headless Chromium driven by playwright-core.
//
// Three nodes share one server list and one cluster secret, with short heartbeats. The page
// on instance 1 must show all three up with every link up; an instance killed with SIGKILL
// must turn down (and the links to it) within a few heartbeat timeouts, and up again when it
// restarts on its port; the page must reconnect by itself when its own instance restarts.
// With --api-token the page needs ?token=, which it passes on to its WebSocket.
//
// Setup:  npm install --prefix tests/.npm ws playwright-core   (and: apt-get install chromium)
// Run:    node --test tests/browser_view.mjs
// Env:    WSC_NODE_BIN (default build/wscluster-node), CHROMIUM_BIN (default /usr/bin/chromium)
// Leaves screenshots in build/cluster-view.png (all up) and build/cluster-view-down.png.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import path from 'node:path';
import fs from 'node:fs';
import { ChatPages, ROOT, SHORT_HEARTBEATS, assertCleanExit, launchChromium, load, sleep,
  startCluster, startNode, withTimeout } from './lib.mjs';

const SHOT = path.join(ROOT, 'build/cluster-view.png');
const SHOT_DOWN = path.join(ROOT, 'build/cluster-view-down.png');
const T = 20_000;       // one step (ASan build on a slow 2-core machine)
const T_LINK = 60_000;  // until the whole mesh is linked
const N = 3;
const VIEWPORT = { width: 1200, height: 520 };
const RATE = /^(?!0\/s$)\d+(\.\d)?[kMGT]?\/s$/;  // a rate the page shows, not zero

let cluster;  // startCluster(): the instances, their server list, start() for a restart
let nodes = [];
let extra = [];  // other instances started by a test
let browser;
let pages;    // pages.problems: console errors/warnings and page errors, as "page: text"
let view;     // the view page of instance 1

/** The view page of `node` (with `search`, e.g. ?token=), watched, once it shows "live". */
async function openView(node, search = '') {
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  pages.watch(page, `view@${node.id}`);
  const res = await page.goto(`${node.http}/cluster${search}`);
  assert.equal(res.status(), 200);
  await page.locator('#conn').filter({ hasText: /^live$/ }).waitFor();
  return page;
}

/** What the page shows: the socket, the count, each instance's state and its links' states. */
function picture(page) {
  return page.evaluate(() => ({
    conn: document.getElementById('conn').textContent,
    count: document.getElementById('count').textContent,
    nodes: Object.fromEntries([...document.querySelectorAll('#grid [data-node]')].map((el) => [
      el.dataset.node, {
        state: el.dataset.state,
        links: Object.fromEntries([...el.querySelectorAll('[data-peer]')].map((l) => [
          l.dataset.peer, l.dataset.state])),
      }])),
  }));
}

/** The picture of `states` ({id: 'up'|'down'}): an up instance's links are up to the up
    ones and down to the down ones; a down one's (its last summary) are unknown. */
function expected(states) {
  const ids = Object.keys(states);
  const nodesWant = {};
  for (const id of ids) {
    const links = {};
    for (const p of ids) if (p !== id) links[p] = states[id] === 'up' ? states[p] : 'unknown';
    nodesWant[id] = { state: states[id], links };
  }
  return { conn: 'live', count: String(ids.length), nodes: nodesWant };
}

/** Wait until the page shows exactly `want` (a picture); returns the ms it took. */
async function waitPicture(page, want, timeout, what) {
  const t0 = Date.now();
  let got;
  for (;;) {
    got = await picture(page);
    if (isDeepStrictEqual(got, want)) return Date.now() - t0;
    if (Date.now() - t0 > timeout) {
      assert.deepEqual(got, want, `${what}: not shown after ${timeout} ms`);
    }
    await sleep(100);
  }
}

const ids = () => nodes.map((n) => n.id);
const allUp = () => expected(Object.fromEntries(ids().map((id) => [id, 'up'])));
const card = (page, id) => page.locator(`#grid [data-node="${id}"]`);

/** A chat client (the ws package) of `node`, open. */
async function chatClient(node, user) {
  const WebSocket = load('ws');
  const ws = new WebSocket(`${node.ws}/ws?user=${encodeURIComponent(user)}`);
  await withTimeout(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
    T, `chat client on ${node.id}`);
  return ws;
}

async function shot(page, file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
}

before(async () => {
  cluster = await startCluster({ n: N, prefix: 'view', args: SHORT_HEARTBEATS, timeout: T });
  nodes = cluster.nodes;
  browser = await launchChromium();
  pages = new ChatPages(browser, { viewport: VIEWPORT, timeout: T });
});

after(async () => {
  if (browser) await browser.close();
  for (const n of [...nodes, ...extra]) n.kill();
  if (cluster) cluster.remove();
});

test('the page on instance 1 shows the three instances up, every link up', { timeout: T_LINK + 2 * T }, async () => {
  view = await openView(nodes[0]);
  await waitPicture(view, allUp(), T_LINK, 'all three up');
  assert.equal(await view.locator('#self').textContent(), nodes[0].id);
  const first = view.locator('#grid [data-node]').first();
  assert.equal(await first.getAttribute('data-node'), nodes[0].id, 'this instance comes first');
  assert.match(await first.textContent(), /this instance/);
  assert.match(await card(view, nodes[0].id).locator('.url').textContent(),
    new RegExp(`^ws://127\\.0\\.0\\.1:${nodes[0].port}/wscluster$`), 'our url as the list names it');
  for (const n of nodes) {  // heartbeat round trips are measured on every link
    const rtts = await card(view, n.id).locator('[data-peer] td:nth-child(4)').allTextContents();
    assert.equal(rtts.length, N - 1);
    for (const r of rtts) assert.match(r, /^\d+(\.\d+)? ms$/, `${n.id}'s rtts: ${rtts}`);
  }
  assert.equal(await view.locator('#bp').textContent(), 'mesh');
  assert.deepEqual(pages.problems, []);
});

test('a chat client on instance 3 is counted on its card, and its messages as a rate', { timeout: 3 * T }, async () => {
  const ws = await chatClient(nodes[2], 'talker');
  try {
    const c3 = card(view, nodes[2].id);
    await c3.locator('[data-k=client]').filter({ hasText: /^1$/ }).waitFor();
    // this page's own socket is a client of instance 1; instance 2 has none
    assert.equal(await card(view, nodes[0].id).locator('[data-k=client]').textContent(), '1');
    assert.equal(await card(view, nodes[1].id).locator('[data-k=client]').textContent(), '0');
    assert.equal(await c3.locator('[data-k=subscriber]').textContent(), String(N - 1));
    assert.equal(await c3.locator('[data-k=observable]').textContent(), String(N - 1));
    const sending = setInterval(() => ws.send(JSON.stringify({ user: 'talker', text: 'hi' })), 50);
    try {
      await c3.locator('[data-k=msgs-in]').filter({ hasText: RATE }).waitFor();
      await card(view, nodes[0].id).locator('[data-k=forwards-in]').filter({ hasText: RATE }).waitFor();
    } finally {
      clearInterval(sending);
    }
  } finally {
    ws.close();
  }
  await card(view, nodes[2].id).locator('[data-k=client]').filter({ hasText: /^0$/ }).waitFor();
});

test('SIGKILL instance 2: it shows down, and so do the links to it', { timeout: 3 * T }, async (t) => {
  const dead = nodes[1];
  dead.kill();
  const took = await waitPicture(view, expected({ [nodes[0].id]: 'up', [dead.id]: 'down', [nodes[2].id]: 'up' }),
    T, `${dead.id} down`);
  t.diagnostic(`${dead.id} shown down ${took} ms after SIGKILL (heartbeat timeout 1000 ms, a picture a second)`);
  const rtt = await card(view, nodes[0].id).locator(`[data-peer="${dead.id}"] td:nth-child(4)`).textContent();
  assert.equal(rtt, '\u2013', 'no round trip on a link that is down');
  assert.match(await card(view, dead.id).textContent(), /last heard [\d.]+ s ago/);
  assert.equal(await view.locator('#nup').textContent(), String(N - 1));
  await shot(view, SHOT_DOWN);
  assert.deepEqual(pages.problems, []);
});

test('instance 2 restarts on its port: up again, every link up', { timeout: T_LINK + 2 * T }, async (t) => {
  const old = nodes[1];
  await old.exited;
  nodes[1] = await cluster.start(old.id, old.port);
  const took = await waitPicture(view, allUp(), T_LINK, `${old.id} up again`);
  t.diagnostic(`${old.id} shown up ${took} ms after it was listening`);
  assert.deepEqual(pages.problems, []);
});

test('the page shows "disconnected" when its instance dies, and comes back by itself', { timeout: T_LINK + 3 * T }, async () => {
  const old = nodes[0];
  pages.allowConnFailures = true;  // Chromium logs the page's refused reconnects
  old.kill();
  await view.locator('#conn').filter({ hasText: /^disconnected$/ }).waitFor();
  assert.match(await view.locator('#meta').textContent(), /retrying in [\d.]+ s/);
  await old.exited;
  nodes[0] = await cluster.start(old.id, old.port);
  await view.locator('#conn').filter({ hasText: /^live$/ }).waitFor({ timeout: T_LINK });
  await waitPicture(view, allUp(), T_LINK, 'all up after the page reconnected');
  pages.allowConnFailures = false;
  assert.deepEqual(pages.problems, []);
});

test('no console errors; screenshot (with some chat traffic on instance 3)', { timeout: 3 * T }, async () => {
  const ws = await chatClient(nodes[2], 'talker');
  const sending = setInterval(() => ws.send(JSON.stringify({ user: 'talker', text: 'hi' })), 100);
  try {
    await card(view, nodes[2].id).locator('[data-k=msgs-in]').filter({ hasText: RATE }).waitFor();
    await sleep(1000);
    await shot(view, SHOT);
  } finally {
    clearInterval(sending);
    ws.close();
  }
  assert.deepEqual(pages.problems, []);
});

test('with --api-token: the page answers 401 without the token and works with ?token=', { timeout: 4 * T }, async () => {
  const token = 'view-test-token';
  const n = await startNode({ id: 'guarded', args: ['--id', 'guarded', '--api-token', token], timeout: T });
  extra.push(n);
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  const bare = await ctx.newPage();  // not watched: its 401 is the point
  const res = await bare.goto(`${n.http}/cluster`);
  assert.equal(res.status(), 401);
  assert.match(await res.text(), /401 Unauthorized/);
  assert.equal(await bare.locator('#conn').count(), 0, 'no page without the token');
  await ctx.close();
  const page = await openView(n, `?token=${token}`);
  await waitPicture(page, expected({ guarded: 'up' }), T, 'the guarded instance alone');
  const wrong = await (await browser.newContext()).newPage();
  assert.equal((await wrong.goto(`${n.http}/cluster?token=nope`)).status(), 401);
  await wrong.context().close();
  assert.deepEqual(pages.problems, []);
});

test('every node exits 0 on SIGTERM', { timeout: 2 * T }, async () => {
  pages.allowConnFailures = true;  // the pages notice their node going away and retry
  const all = [...nodes, ...extra];
  const results = await Promise.all(all.map((n) => n.stop()));
  results.forEach((exit, i) => assertCleanExit(all[i], exit));
  for (const n of all) {
    assert.doesNotMatch(n.stderr(), /wrong cluster secret|ERROR|Sanitizer/, `${n.id} stderr:\n${n.stderr()}`);
  }
});
