// Interop tests between wscluster and Node's `ws` package, in both roles:
//  - server role: a `ws` client talks to build/wscluster-node (/echo, /ws, /send);
//  - client role: build/wsc-client talks to a `ws` WebSocketServer.
//
// Setup:  npm install --prefix tests/.npm ws playwright-core
// Run:    node --test tests/node_interop.mjs
// Env:    WSC_NODE_BIN   (default build/wscluster-node)
//         WSC_CLIENT_BIN (default build/wsc-client)
import test, { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { ROOT, assertCleanExit, load, startNode as startLibNode, withTimeout } from './lib.mjs';

const { WebSocket, WebSocketServer } = load('ws');

const CLIENT_BIN = path.resolve(ROOT, process.env.WSC_CLIENT_BIN || 'build/wsc-client');
const T = 10_000;      // per-step timeout (the node may run under ASan on a slow machine)
const T_BIG = 30_000;  // for the multi-MiB cases

// ---------------------------------------------------------------- helpers

/** Start the node on an ephemeral port, with `extraArgs`. */
const startNode = (extraArgs = []) => startLibNode({ args: extraArgs, timeout: T });

/** A ws client with a message queue so tests can `await c.next()`. */
class Client {
  constructor(url, opts = {}) {
    this.ws = new WebSocket(url, opts.protocols, { maxPayload: 64 * 1024 * 1024, ...opts.ws });
    this.queue = [];
    this.waiters = [];
    this.ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      const w = this.waiters.shift();
      if (w) w(m); else this.queue.push(m);
    });
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('error', (e) => { this.error = e; });
  }

  static async open(url, opts) {
    const c = new Client(url, opts);
    await withTimeout(new Promise((resolve, reject) => {
      c.ws.once('open', resolve);
      c.ws.once('error', reject);
    }), T, `open ${url}`);
    return c;
  }

  next(ms = T) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return withTimeout(new Promise((resolve) => this.waiters.push(resolve)), ms, 'next message');
  }

  send(data, opts = {}) {
    return new Promise((resolve, reject) =>
      this.ws.send(data, opts, (e) => (e ? reject(e) : resolve())));
  }

  async close(code = 1000, reason = '') {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    return withTimeout(this.closed, T, 'close handshake');
  }

  terminate() { this.ws.terminate(); }
}

/** Deterministic payloads: binary includes zeros and all byte values, text is printable ASCII. */
function binPayload(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}
function textPayload(n) {
  let s = '';
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ';
  for (let i = 0; i < n; i++) s += chars[i % chars.length];
  return s;
}

async function getJSON(url, init) {
  const res = await withTimeout(fetch(url, init), T, `fetch ${url}`);
  const body = await res.text();
  return { status: res.status, body, json: res.status === 200 ? JSON.parse(body) : null };
}

/** Run build/wsc-client, resolve {code, stdout, stderr}. */
function runClient(args, ms = T_BIG) {
  assert.ok(fs.existsSync(CLIENT_BIN), `client binary not found: ${CLIENT_BIN} (run make)`);
  return new Promise((resolve, reject) => {
    const p = spawn(CLIENT_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`wsc-client timed out: ${args.join(' ')}\nstderr: ${stderr}`));
    }, ms);
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** A `ws` echo server on 127.0.0.1:0 that records what it saw. */
async function startEchoServer(opts = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024, ...opts });
  await new Promise((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  const seen = { connections: 0, messages: 0, bytes: 0, protocols: [], closes: [], errors: [] };
  wss.on('connection', (ws) => {
    seen.connections++;
    seen.protocols.push(ws.protocol);
    ws.on('message', (data, isBinary) => {
      seen.messages++;
      seen.bytes += data.length;
      ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code) => seen.closes.push(code));
    ws.on('error', (e) => seen.errors.push(e.message));
  });
  const closeAll = () => new Promise((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  });
  return { wss, seen, url: `ws://127.0.0.1:${wss.address().port}`, close: closeAll };
}

// ------------------------------------------------- server role: ws client -> node

describe('ws client against wscluster-node', () => {
  let node;
  before(async () => { node = await startNode(); });
  after(() => { if (node) node.kill(); });

  test('GET / serves the chat page', { timeout: T }, async () => {
    const res = await fetch(`${node.http}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') || '', /^text\/html/);
    const body = await res.text();
    assert.match(body, /<html/i);
    assert.match(body, /id="log"/);
  });

  test('/echo text message', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    await c.send('hello, wscluster ✓');
    const m = await c.next();
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString('utf8'), 'hello, wscluster ✓');
    await c.close();
  });

  test('/echo binary message with zero bytes', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    const payload = Buffer.from([0, 1, 2, 0, 255, 0]);
    await c.send(payload, { binary: true });
    const m = await c.next();
    assert.equal(m.isBinary, true);
    assert.deepEqual(m.data, payload);
    await c.close();
  });

  for (const size of [0, 125, 126, 65535, 65536, 4 * 1024 * 1024]) {
    test(`/echo binary and text of ${size} bytes`, { timeout: T_BIG }, async () => {
      const c = await Client.open(`${node.ws}/echo`);
      const bin = binPayload(size);
      await c.send(bin, { binary: true });
      const mb = await c.next(T_BIG);
      assert.equal(mb.isBinary, true);
      assert.equal(mb.data.length, size);
      assert.ok(mb.data.equals(bin), 'binary payload differs');
      const txt = textPayload(size);
      await c.send(txt);
      const mt = await c.next(T_BIG);
      assert.equal(mt.isBinary, false);
      assert.equal(mt.data.length, size);
      assert.ok(mt.data.toString('latin1') === txt, 'text payload differs');
      await c.close();
    });
  }

  test('/echo many small messages keep their order', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    const n = 200;
    for (let i = 0; i < n; i++) c.ws.send(`m${i}`);
    for (let i = 0; i < n; i++) assert.equal((await c.next()).data.toString(), `m${i}`);
    await c.close();
  });

  test('/echo fragmented message is reassembled', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    c.ws.send('frag-', { fin: false });
    c.ws.send('ment-', { fin: false });
    c.ws.send('ed', { fin: true });
    const m = await c.next();
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'frag-ment-ed');
    await c.close();
  });

  test('ping is answered with pong carrying the same payload', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    for (const payload of [Buffer.alloc(0), Buffer.from('ping-payload-123'), binPayload(125)]) {
      const pong = withTimeout(new Promise((resolve) => c.ws.once('pong', resolve)), T, 'pong');
      c.ws.ping(payload);
      assert.deepEqual(await pong, payload);
    }
    await c.close();
  });

  for (const [code, reason] of [[1000, ''], [1000, 'bye'], [4001, 'custom']]) {
    test(`close ${code} ${JSON.stringify(reason)} is echoed`, { timeout: T }, async () => {
      const c = await Client.open(`${node.ws}/echo`);
      const closed = await c.close(code, reason);
      assert.equal(closed.code, code);
    });
  }

  test('unknown WebSocket path is rejected with 404', { timeout: T }, async () => {
    const ws = new WebSocket(`${node.ws}/nope`);
    const status = await withTimeout(new Promise((resolve, reject) => {
      ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
      ws.on('open', () => reject(new Error('unexpectedly opened')));
      ws.on('error', () => {});
    }), T, '404 response');
    assert.equal(status, 404);
  });

  test('/ws broadcasts to every client including the sender, opcode preserved', { timeout: T }, async () => {
    const a = await Client.open(`${node.ws}/ws?user=alice`);
    const b = await Client.open(`${node.ws}/ws?user=bob`);
    await a.send('{"user":"alice","text":"hi all"}');
    for (const c of [a, b]) {
      const m = await c.next();
      assert.equal(m.isBinary, false);
      assert.equal(m.data.toString(), '{"user":"alice","text":"hi all"}');
    }
    const bin = binPayload(300);
    await b.send(bin, { binary: true });
    for (const c of [a, b]) {
      const m = await c.next();
      assert.equal(m.isBinary, true);
      assert.ok(m.data.equals(bin));
    }
    await a.close();
    await b.close();
  });

  test('GET /send?user= targets only that user', { timeout: T }, async () => {
    const a = await Client.open(`${node.ws}/ws?user=alice`);
    const b = await Client.open(`${node.ws}/ws?user=bob`);
    const r1 = await getJSON(`${node.http}/send?user=alice&msg=${encodeURIComponent('just for alice')}`);
    assert.equal(r1.status, 200, r1.body);
    assert.deepEqual(r1.json, { ok: true, delivered: 1, forwarded: 0 });
    const r2 = await getJSON(`${node.http}/send?msg=everyone`);
    assert.equal(r2.status, 200, r2.body);
    assert.equal(r2.json.ok, true);
    assert.equal(r2.json.delivered, 2);
    assert.equal((await a.next()).data.toString(), 'just for alice');
    assert.equal((await a.next()).data.toString(), 'everyone');
    // bob's first message must be the broadcast: the targeted one was not delivered to him
    assert.equal((await b.next()).data.toString(), 'everyone');
    const r3 = await getJSON(`${node.http}/send?user=nobody&msg=x`);
    assert.deepEqual(r3.json, { ok: true, delivered: 0, forwarded: 0 });
    await a.close();
    await b.close();
  });

  test('POST /send: octet-stream is binary, other bodies are text', { timeout: T }, async () => {
    const a = await Client.open(`${node.ws}/ws?user=carol`);
    const bin = Buffer.from([0, 10, 0, 255]);
    const r1 = await getJSON(`${node.http}/send`, {
      method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bin,
    });
    assert.equal(r1.status, 200, r1.body);
    const m1 = await a.next();
    assert.equal(m1.isBinary, true);
    assert.deepEqual(m1.data, bin);
    const r2 = await getJSON(`${node.http}/send?user=carol`, {
      method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'posted text',
    });
    assert.equal(r2.status, 200, r2.body);
    assert.deepEqual(r2.json, { ok: true, delivered: 1, forwarded: 0 });
    const m2 = await a.next();
    assert.equal(m2.isBinary, false);
    assert.equal(m2.data.toString(), 'posted text');
    await a.close();
  });

  test('GET /send without msg is 400', { timeout: T }, async () => {
    const r = await getJSON(`${node.http}/send`);
    assert.equal(r.status, 400);
  });

  test('SIGTERM closes clients with 1001 and the node exits 0', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/ws?user=dave`);
    const e = await Client.open(`${node.ws}/echo`);
    const exit = await node.stop();
    assert.equal((await withTimeout(c.closed, T, 'close on shutdown')).code, 1001);
    assert.equal((await withTimeout(e.closed, T, 'close on shutdown')).code, 1001);
    assertCleanExit(node, exit);
  });
});

describe('wscluster-node with --max-message 1000', () => {
  let node;
  before(async () => { node = await startNode(['--max-message', '1000']); });
  after(() => { if (node) node.kill(); });

  test('message of exactly max-message is accepted', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    await c.send(binPayload(1000), { binary: true });
    assert.equal((await c.next()).data.length, 1000);
    await c.close();
  });

  test('single frame above max-message closes with 1009', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    c.ws.send(binPayload(1001), { binary: true });
    const closed = await withTimeout(c.closed, T, 'close 1009');
    assert.equal(closed.code, 1009);
  });

  test('large (64 KiB) frame closes with 1009', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/ws?user=big`);
    c.ws.send(textPayload(65536));
    const closed = await withTimeout(c.closed, T, 'close 1009');
    assert.equal(closed.code, 1009);
  });

  test('fragments adding up to more than max-message close with 1009', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    c.ws.send(textPayload(600), { fin: false });
    c.ws.send(textPayload(600), { fin: true });
    const closed = await withTimeout(c.closed, T, 'close 1009');
    assert.equal(closed.code, 1009);
  });

  test('POST /send above max-message is 413', { timeout: T }, async () => {
    const r = await getJSON(`${node.http}/send`, { method: 'POST', body: textPayload(1001) });
    assert.equal(r.status, 413);
  });

  test('node exits 0 on SIGTERM', { timeout: T }, async () => {
    assertCleanExit(node, await node.stop());
  });
});

describe('SIGTERM to a wscluster-node with a ws client', () => {
  let node;
  before(async () => { node = await startNode(); });
  after(() => { if (node) node.kill(); });

  test('the client sees close code 1001 and the node exits 0', { timeout: T }, async () => {
    const c = await Client.open(`${node.ws}/echo`);
    await c.send('before shutdown');
    assert.equal((await c.next()).data.toString(), 'before shutdown');
    node.proc.kill('SIGTERM');
    const closed = await withTimeout(c.closed, T, 'the node closing the client on SIGTERM');
    assert.equal(closed.code, 1001, `close code ${closed.code}\n${node.stderr()}`);
    assertCleanExit(node, await withTimeout(node.exited, T, 'node exit after SIGTERM'));
  });
});

// ------------------------------------------------- client role: wsc-client -> ws server

describe('wsc-client against a ws WebSocketServer', () => {
  let echo;
  let chat;
  before(async () => {
    echo = await startEchoServer();
    chat = await startEchoServer({
      handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
    });
  });
  after(async () => {
    if (echo) await echo.close();
    if (chat) await chat.close();
  });

  const cases = [
    [],
    ['--count', '10', '--size', '0'],
    ['--count', '5', '--size', '125'],
    ['--count', '5', '--size', '126', '--binary'],
    ['--count', '3', '--size', '65536'],
    ['--count', '3', '--size', '65536', '--binary'],
    ['--count', '2', '--size', String(4 * 1024 * 1024), '--binary'],
    ['--count', '100', '--size', '1000'],
  ];
  for (const args of cases) {
    test(`wsc-client ${args.join(' ') || '(defaults)'}`, { timeout: T_BIG }, async () => {
      const prev = { ...echo.seen, closes: echo.seen.closes.length };
      const count = args.includes('--count') ? Number(args[args.indexOf('--count') + 1]) : 1;
      const size = args.includes('--size') ? Number(args[args.indexOf('--size') + 1]) : 16;
      const r = await runClient([...args, `${echo.url}/echo`]);
      assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^ok ${count}\\s*$`, 'm'));
      assert.equal(echo.seen.messages - prev.messages, count);
      assert.equal(echo.seen.bytes - prev.bytes, count * size);
      assert.deepEqual(echo.seen.errors, []); // e.g. unmasked frame would be an error here
      await withTimeout((async () => {
        while (echo.seen.closes.length === prev.closes) await new Promise((r2) => setTimeout(r2, 20));
      })(), T, 'server-side close');
      assert.equal(echo.seen.closes.at(-1), 1000);
    });
  }

  test('wsc-client --subprotocol chat negotiates "chat"', { timeout: T_BIG }, async () => {
    const r = await runClient(['--subprotocol', 'chat', '--count', '3', '--size', '200', `${chat.url}/`]);
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stdout, /^ok 3\s*$/m);
    assert.equal(chat.seen.protocols.at(-1), 'chat');
  });

  test('wsc-client --subprotocol chat --binary', { timeout: T_BIG }, async () => {
    const r = await runClient(['--subprotocol', 'chat', '--binary', '--count', '4', '--size', '70000', `${chat.url}/x`]);
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stdout, /^ok 4\s*$/m);
    assert.equal(chat.seen.protocols.at(-1), 'chat');
  });

  test('wsc-client exits 2 when the handshake is refused', { timeout: T_BIG }, async () => {
    const refuse = await startEchoServer({ verifyClient: (info, cb) => cb(false, 403, 'Forbidden') });
    try {
      const r = await runClient([`${refuse.url}/echo`]);
      assert.equal(r.code, 2, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /^ok/m);
    } finally {
      await refuse.close();
    }
  });
});
