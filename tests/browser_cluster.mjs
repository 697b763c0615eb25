// Browser test of the chat page across a 3-instance wscluster-node cluster, in headless
// Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
//
// Three nodes share one server list file (each skips its own entry) and one cluster secret
// (WSCLUSTER_SECRET), with short heartbeats. Chat pages on instance 1 and instance 3 must see
// each other's messages, and a GET /send on instance 2 (no clients of its own) must reach both.
//
// Setup:  npm install --prefix tests/.npm ws playwright-core   (and: apt-get install chromium)
// Run:    node --test tests/browser_cluster.mjs
// Env:    WSC_NODE_BIN (default build/wscluster-node), CHROMIUM_BIN (default /usr/bin/chromium)
// Leaves a screenshot of both pages side by side in build/cluster.png.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { ChatPages, ROOT, assertCleanExit, launchChromium, msgTexts, sleep, SHORT_HEARTBEATS,
  startCluster, waitForMsg, withTimeout } from './lib.mjs';

const SHOT = path.join(ROOT, 'build/cluster.png');
const T = 20_000;       // one step (ASan build on a slow 2-core machine)
const T_LINK = 60_000;  // until the whole mesh is linked
const N = 3;

let cluster;    // startCluster(): the instances, their server list, start() for a restart
let nodes = [];
let browser;
let pages;  // pages.problems: console errors/warnings and page errors, as "page: text"

async function getJSON(node, urlPath) {
  const res = await withTimeout(fetch(`${node.http}${urlPath}`), T, `GET ${urlPath} on ${node.id}`);
  const body = await res.text();
  assert.equal(res.status, 200, `GET ${urlPath} on ${node.id}: ${body}`);
  return JSON.parse(body);
}

/** Why `stats` does not show a fully linked node yet ('' if it does). */
function notLinked(node, stats) {
  const others = nodes.filter((n) => n !== node).map((n) => n.id).sort();
  const peers = (stats.peers || []).filter((p) => !p.self);
  const up = peers.filter((p) => p.subscriber === 'up' && p.observable === 'up').map((p) => p.node).sort();
  if (JSON.stringify(up) !== JSON.stringify(others)) {
    return `${node.id}: peers up ${JSON.stringify(up)}, want ${JSON.stringify(others)}: ${JSON.stringify(stats.peers)}`;
  }
  return '';
}

async function waitLinked() {
  const deadline = Date.now() + T_LINK;
  let why = '';
  for (;;) {
    why = '';
    for (const n of nodes) {
      assert.ok(n.alive(), `node ${n.id} died\n${n.stderr()}`);
      why = notLinked(n, await getJSON(n, '/stats'));
      if (why) break;
    }
    if (!why) return;
    if (Date.now() > deadline) assert.fail(`cluster not linked after ${T_LINK} ms: ${why}`);
    await sleep(200);
  }
}

const openChat = (node, name) => pages.open(node, name, `${name}@${node.id}`);

async function typeAndSend(page, text) {
  await page.fill('#input', text);
  await page.click('#send');
}

let alice; // chat page on instance 1
let carol; // chat page on instance 3
const expected = []; // every message both pages must show, exactly once

before(async () => {
  cluster = await startCluster({ n: N, args: SHORT_HEARTBEATS, timeout: T });
  nodes = cluster.nodes;
  browser = await launchChromium();
  pages = new ChatPages(browser, { viewport: { width: 640, height: 420 }, timeout: T });
});

after(async () => {
  if (browser) await browser.close();
  for (const n of nodes) n.kill();
  if (cluster) cluster.remove();
});

test('three instances from one server list link up (subscriber + observable)', { timeout: T_LINK + T }, async () => {
  await waitLinked();
  for (const n of nodes) {
    const s = await getJSON(n, '/stats');
    assert.equal(s.id, n.id);
    assert.equal(s.peers.filter((p) => p.self).length, 1, `${n.id} lists itself once: ${JSON.stringify(s.peers)}`);
    assert.equal(s.connections.subscriber, N - 1, `${n.id} subscriber links: ${JSON.stringify(s.connections)}`);
    assert.equal(s.connections.observable, N - 1, `${n.id} observable links: ${JSON.stringify(s.connections)}`);
  }
});

test('chat pages on instance 1 and instance 3 connect with their names', { timeout: 3 * T }, async () => {
  alice = await openChat(nodes[0], 'alice');
  carol = await openChat(nodes[2], 'carol');
  const c1 = await getJSON(nodes[0], '/clients');
  const c3 = await getJSON(nodes[2], '/clients');
  assert.deepEqual(c1.map((c) => [c.user, c.proto]), [['alice', 'ws']], JSON.stringify(c1));
  assert.deepEqual(c3.map((c) => [c.user, c.proto]), [['carol', 'ws']], JSON.stringify(c3));
  assert.deepEqual(await getJSON(nodes[1], '/clients'), []);
});

test('a message typed on instance 1 shows up with the sender\'s name on instance 3', { timeout: 3 * T }, async () => {
  await typeAndSend(alice, 'hello from alice on one');
  expected.push('alice: hello from alice on one');
  await waitForMsg(carol, 'alice: hello from alice on one');
  await waitForMsg(alice, 'alice: hello from alice on one');
  assert.equal(await alice.inputValue('#input'), '', 'input is cleared after sending');
});

test('and one typed on instance 3 (Enter) shows up on instance 1', { timeout: 3 * T }, async () => {
  await carol.fill('#input', 'carol answers from three');
  await carol.press('#input', 'Enter');
  expected.push('carol: carol answers from three');
  await waitForMsg(alice, 'carol: carol answers from three');
  await waitForMsg(carol, 'carol: carol answers from three');
});

test('GET /send?msg=... on instance 2 appears in both pages', { timeout: 3 * T }, async () => {
  const r = await getJSON(nodes[1], `/send?msg=${encodeURIComponent('broadcast via two')}`);
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.delivered, 0, `instance 2 has no clients of its own: ${JSON.stringify(r)}`);
  assert.equal(r.forwarded, N - 1, `one copy per peer: ${JSON.stringify(r)}`);
  expected.push('?: broadcast via two');
  await waitForMsg(alice, '?: broadcast via two');
  await waitForMsg(carol, '?: broadcast via two');
  // a JSON chat message from /send is shown with its user name
  await getJSON(nodes[1], `/send?msg=${encodeURIComponent(JSON.stringify({ user: 'bot', text: 'from the middle' }))}`);
  expected.push('bot: from the middle');
  await waitForMsg(alice, 'bot: from the middle');
  await waitForMsg(carol, 'bot: from the middle');
});

test('every message arrived exactly once, in order, on both pages', { timeout: 3 * T }, async () => {
  await sleep(1000); // let any duplicate arrive
  for (const [label, page] of [['alice', alice], ['carol', carol]]) {
    const got = (await msgTexts(page)).filter((t) => expected.includes(t));
    assert.deepEqual(got, expected, `${label}'s page: ${JSON.stringify(await msgTexts(page))}`);
  }
  for (const n of nodes) {
    const s = await getJSON(n, '/stats');
    assert.equal(s.forwarded.dropped, 0, `${n.id} forwarded: ${JSON.stringify(s.forwarded)}`);
  }
});

test('no console errors or warnings; screenshot of both pages', { timeout: 3 * T }, async () => {
  const a = await alice.screenshot();
  const c = await carol.screenshot();
  const ctx = await browser.newContext({ viewport: { width: 1320, height: 470 } });
  const sheet = await ctx.newPage();
  const img = (buf, caption) => `<figure><figcaption>${caption}</figcaption>` +
    `<img src="data:image/png;base64,${buf.toString('base64')}"></figure>`;
  await sheet.setContent('<!DOCTYPE html><style>body{margin:0;display:flex;gap:20px;padding:10px;' +
    'background:#888;font:13px system-ui,sans-serif}figure{margin:0}figcaption{color:#fff;' +
    'padding:0 0 4px}img{display:block;border:1px solid #444}</style>' +
    img(a, `instance 1 (${nodes[0].http}) as alice`) + img(c, `instance 3 (${nodes[2].http}) as carol`));
  fs.mkdirSync(path.dirname(SHOT), { recursive: true });
  await sheet.screenshot({ path: SHOT, fullPage: true });
  await ctx.close();
  assert.deepEqual(pages.problems, []);
});

test('instance 3 restarts on its port, rejoins the cluster, and its page chats again', { timeout: T_LINK + 6 * T }, async () => {
  const old = nodes[2];
  pages.allowConnFailures = true; // carol's page retries while instance 3 is down
  assertCleanExit(old, await old.stop());
  await carol.locator('#status').filter({ hasNotText: /^connected$/ }).waitFor();
  nodes[2] = await cluster.start(old.id, old.port);
  await waitLinked();
  await carol.locator('#status').filter({ hasText: /^connected$/ }).waitFor({ timeout: T_LINK });
  pages.allowConnFailures = false;
  await typeAndSend(alice, 'welcome back carol');
  expected.push('alice: welcome back carol');
  await waitForMsg(carol, 'alice: welcome back carol');
  await typeAndSend(carol, 'glad to be back');
  expected.push('carol: glad to be back');
  await waitForMsg(alice, 'carol: glad to be back');
  await sleep(1000); // let any duplicate arrive
  for (const [label, page] of [['alice', alice], ['carol', carol]]) {
    const got = (await msgTexts(page)).filter((t) => expected.includes(t));
    assert.deepEqual(got, expected, `${label}'s page: ${JSON.stringify(await msgTexts(page))}`);
  }
  assert.deepEqual(pages.problems, []);
});

test('every node exits 0 on SIGTERM', { timeout: 2 * T }, async () => {
  pages.allowConnFailures = true; // the pages notice their node going away and retry
  const results = await Promise.all(nodes.map((n) => n.stop()));
  results.forEach((exit, i) => assertCleanExit(nodes[i], exit));
  for (const n of nodes) {
    assert.doesNotMatch(n.stderr(), /wrong cluster secret|ERROR|Sanitizer/, `${n.id} stderr:\n${n.stderr()}`);
  }
});
