// A local stand-in for the Hugging Face hub on 127.0.0.1: the tree API and `resolve` URLs (with the
// hub's redirect to a file host) over a model folder, HTTP Range support, and switches to break a
// transfer half-way, ignore Range, or corrupt a file. Serves the fixture models to the download
// tests; nothing leaves the machine.
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface HubServerOptions {
  /** repo id ("owner/name") → folder served for it */
  repos: Record<string, string>;
  /** Cut the connection once, after this many bytes of this file. */
  breakOnce?: { file: string; afterBytes: number };
  /** Answer 200 with the whole file even when a Range is asked for. */
  ignoreRange?: boolean;
  /** Serve this file with one byte changed (the listed hash stays the real one). */
  corrupt?: string;
  /** Send bodies in 16 KiB pieces, 5 ms apart (so a transfer can be cancelled half-way). */
  slow?: boolean;
  /** Files treated as Git LFS objects (sha256 in the listing). Default: *.safetensors. */
  isLfs?: (path: string) => boolean;
}

export interface HubServer {
  endpoint: string;
  requests: { url: string; range?: string; status: number }[];
  close(): Promise<void>;
}

export async function startHubServer(o: HubServerOptions): Promise<HubServer> {
  const isLfs = o.isLfs ?? ((p: string) => p.endsWith('.safetensors'));
  const requests: HubServer['requests'] = [];
  let broken = false;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record = (status: number) => requests.push({ url: url.pathname, range: req.headers.range, status });
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      const dir = o.repos[tree[1]!];
      if (!dir) {
        record(404);
        res.writeHead(404).end('{"error":"Repository not found"}');
        return;
      }
      const list = readdirSync(dir)
        .filter((f) => statSync(join(dir, f)).isFile())
        .map((f) => {
          const data = readFileSync(join(dir, f));
          const gitOid = createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
          return isLfs(f)
            ? {
                type: 'file',
                path: f,
                size: 134,
                oid: gitOid,
                lfs: { oid: createHash('sha256').update(data).digest('hex'), size: data.length, pointerSize: 134 },
              }
            : { type: 'file', path: f, size: data.length, oid: gitOid };
        });
      record(200);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify([...list, { type: 'directory', path: 'onnx', oid: 'x', size: 0 }]));
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      // The hub answers with a redirect to its file host, as huggingface.co does.
      record(302);
      res.writeHead(302, { location: `/files/${resolve[1]}/${resolve[3]}` }).end();
      return;
    }
    const file = /^\/files\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    const dir = file && o.repos[file[1]!];
    if (!file || !dir) {
      record(404);
      res.writeHead(404).end('not found');
      return;
    }
    const name = decodeURIComponent(file[2]!);
    let data: Buffer;
    try {
      data = readFileSync(join(dir, name));
    } catch {
      record(404);
      res.writeHead(404).end('not found');
      return;
    }
    if (o.corrupt === name) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (range && !o.ignoreRange) {
      start = Number(range[1]);
      if (start >= data.length) {
        record(416);
        res.writeHead(416).end();
        return;
      }
      record(206);
      res.writeHead(206, {
        'content-length': data.length - start,
        'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
      });
    } else {
      record(200);
      res.writeHead(200, { 'content-length': data.length, 'accept-ranges': 'bytes' });
    }
    const body = data.subarray(start);
    if (o.breakOnce && o.breakOnce.file === name && !broken) {
      broken = true;
      // Close the connection half-way (FIN, so what was sent arrives): the body ends early.
      res.write(body.subarray(0, o.breakOnce.afterBytes), () => res.socket?.end());
      return;
    }
    if (o.slow) {
      let off = 0;
      const next = () => {
        if (res.destroyed) return;
        if (off >= body.length) {
          res.end();
          return;
        }
        res.write(body.subarray(off, off + 16384), () => setTimeout(next, 5));
        off += 16384;
      };
      next();
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
