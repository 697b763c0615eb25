// ws_server: the Node `ws` peer of `make bench` (ws from tests/.npm, installed by tests/deps.sh).
// Same endpoints as wscluster-node's benchmark paths:
//   WS /echo  each message back to its sender (same opcode)
//   WS /ws    each message to every /ws client, sender included (the documented ws
//             broadcast loop: client.send() per client)
// usage: node tests/bench/ws_server.mjs PORT   (0 = any free port)
// prints "listening ws://127.0.0.1:PORT" once ready; SIGINT/SIGTERM stop it.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(ROOT, 'tests/.npm/node_modules/'));
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 1024, perMessageDeflate: false });
const chat = new Set();

wss.on('connection', (ws, req) => {
  const p = (req.url || '').split('?')[0];
  if (p === '/ws') {
    chat.add(ws);
    ws.on('message', (data, isBinary) => {
      for (const c of chat) if (c.readyState === 1) c.send(data, { binary: isBinary });
    });
    ws.on('close', () => chat.delete(ws));
  } else if (p === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    ws.close(1008, 'unknown path');
  }
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`listening ws://127.0.0.1:${wss.address().port}\n`);
});
const stop = () => { wss.close(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
