#!/usr/bin/env node
// A tiny static server for the browser demo: web/ at /, and the embedded corpus at /corpus/.
// Loopback only; GET and HEAD only; no directory listings; paths that leave the two folders are
// refused. Prints the URL on its first line (`kotoba demo: http://127.0.0.1:PORT/`), which the
// browser test reads. Pages are served cross-origin isolated (COOP/COEP), for the threaded kernels.
//
//   node scripts/serve-web.mjs [--port N]     (default 8080; 0 picks a free port)

import { createServer } from 'node:http';
import { createReadStream, promises as fsp } from 'node:fs';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mounts = [
  ['/corpus/', join(root, 'corpus')],
  ['/', join(root, 'web')],
];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.arpa': 'text/plain; charset=utf-8',
  '.kblm': 'application/octet-stream',
  '.gz': 'application/gzip',
};

/** The file a URL path names, or null when it is outside the served folders. */
function resolvePath(urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  if (path.endsWith('/')) path += 'index.html';
  for (const [prefix, dir] of mounts) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    return file.startsWith(dir + sep) ? file : null;
  }
  return null;
}

export function startServer(port = 8080, host = '127.0.0.1') {
  const server = createServer(async (req, res) => {
    const send = (status, text) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    const file = resolvePath(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (!file) return send(404, 'not found');
    let stat;
    try {
      stat = await fsp.stat(file);
    } catch {
      return send(404, 'not found');
    }
    if (!stat.isFile()) return send(404, 'not found');
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'content-length': stat.size,
      'cache-control': 'no-cache',
      // Cross-origin isolation: the page may then share memory with its workers, so the neural
      // kernels run on every core (everything here is same-origin, so nothing is blocked).
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8080);
  try {
    await fsp.access(join(root, 'web', 'dist', 'main.js'));
  } catch {
    console.error('kotoba demo: web/dist/ is missing; run `npm run build:web` (or `npm run web`) first');
    process.exit(1);
  }
  const server = await startServer(port).catch((e) => {
    console.error(`kotoba demo: cannot listen on port ${port}: ${e.message}${e.code === 'EADDRINUSE' ? ' (pass --port N, or --port 0 for any free port)' : ''}`);
    process.exit(1);
  });
  const { port: actual } = server.address();
  console.log(`kotoba demo: http://127.0.0.1:${actual}/`);
  console.log('(serving web/ and corpus/; Ctrl-C to stop)');
}
