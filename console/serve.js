// Serves the built console (dist/) on a local port: a tiny static server, nothing else.
//
//   node serve.js [--port 8790] [--host 127.0.0.1]
//
// The page reads its node from `?node=ws://…` (default: ws://<this host>:9944); the chat uses
// each provider's gateway as registered on chain.

import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, 'dist');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const port = Number(arg('port', process.env.CONSOLE_PORT ?? 8790));
const host = arg('host', '127.0.0.1');
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml',
};

if (!existsSync(path.join(root, 'index.html'))) {
  console.error('console/dist is missing: run `npm run build` in console/ first');
  process.exit(1);
}

const server = http.createServer((request, response) => {
  const url = new URL(request.url, 'http://localhost');
  const file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
  const target = file.startsWith(root) && existsSync(file) && statSync(file).isFile() ? file : path.join(root, 'index.html');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  response.writeHead(200, {
    'content-type': TYPES[path.extname(target)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
    // Scripts and styles from this origin only; connections to any node or gateway (the user
    // chooses them).
    'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src *; img-src 'self' data:",
  });
  if (request.method === 'HEAD') response.end();
  else createReadStream(target).pipe(response);
});
server.listen(port, host, () => console.log(`Tokenmeter console on http://${host}:${port}/`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
