// Browser test of the chat page served by build/wscluster-node, in headless Chromium
// (Debian's /usr/bin/chromium) driven by playwright-core.
//
// Setup:  npm install --prefix tests/.npm ws playwright-core   (and: apt-get install chromium)
// Run:    node --test tests/browser_test.mjs
// Env:    WSC_NODE_BIN (default build/wscluster-node), CHROMIUM_BIN (default /usr/bin/chromium)
// Leaves a screenshot in build/chat.png.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { ChatPages, ROOT, assertCleanExit, launchChromium, msgTexts, startNode, waitForMsg,
  withTimeout } from './lib.mjs';

const SHOT = path.join(ROOT, 'build/chat.png');
const T = 10_000;

let node;
let browser;
let pages;  // pages.problems: console errors/warnings and page errors, as "page: text"

const openChat = (name) => pages.open(node, name);

async function send(query) {
  const res = await withTimeout(fetch(`${node.http}/send?${query}`), T, 'GET /send');
  const body = await res.text();
  assert.equal(res.status, 200, body);
  return JSON.parse(body);
}

let alice;
let bob;

before(async () => {
  node = await startNode({ timeout: T });
  browser = await launchChromium();
  pages = new ChatPages(browser, { viewport: { width: 760, height: 460 }, timeout: T });
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
  assert.deepEqual(pages.problems, []);
});

test('pages reconnect after the node restarts on the same port', { timeout: 60_000 }, async () => {
  const port = node.port;
  pages.allowConnFailures = true;
  assertCleanExit(node, await node.stop());
  for (const p of [alice, bob]) {
    await p.locator('#status').filter({ hasNotText: /^connected$/ }).waitFor();
  }
  node = await startNode({ listen: `127.0.0.1:${port}`, timeout: T });
  for (const p of [alice, bob]) {
    await p.locator('#status').filter({ hasText: /^connected$/ }).waitFor({ timeout: 30_000 });
  }
  pages.allowConnFailures = false;
  await alice.fill('#input', 'back again');
  await alice.click('#send');
  await waitForMsg(bob, 'alice: back again');
  assert.deepEqual(pages.problems, []);
});

test('node exits 0 on SIGTERM', { timeout: T }, async () => {
  assertCleanExit(node, await node.stop());
});
