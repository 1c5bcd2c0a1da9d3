// Downloads a model folder from the Hugging Face hub (or any server with its URL layout):
//   GET {endpoint}/api/models/{repo}/tree/{revision}        the file list, sizes and hashes
//   GET {endpoint}/{repo}/resolve/{revision}/{file}         each file (redirects followed)
// Only what the runtime needs is fetched (configs, tokenizer, safetensors). Each file goes to
// `<file>.part` first and resumes with an HTTP Range request after an interruption; it is checked
// against the listed size and hash (sha256 for LFS files, the git blob sha1 otherwise) before it
// gets its real name. This is the only network code in Squeeze. No vscode import: tested against a
// local server.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';

export interface HubFile {
  path: string;
  size: number;
  /** sha256 of an LFS file's content. */
  sha256?: string;
  /** git blob sha1 of a regular file. */
  gitOid?: string;
}

export interface DownloadProgress {
  file: string;
  doneBytes: number;
  totalBytes: number;
}

export interface DownloadOptions {
  endpoint: string;
  repo: string;
  revision: string;
  dest: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log?: (message: string) => void;
}

export interface DownloadResult {
  dir: string;
  files: HubFile[];
  /** Bytes fetched over the network in this run. */
  downloadedBytes: number;
  /** Bytes that were already on disk (complete files or resumed parts). */
  reusedBytes: number;
}

export type DownloadErrorKind = 'not-found' | 'http' | 'network' | 'integrity' | 'aborted' | 'unusable';

export class DownloadError extends Error {
  override name = 'DownloadError';
  constructor(
    readonly kind: DownloadErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Files the runtime reads: configs, the tokenizer, the weights (and the license/readme, small). */
export function wantedFile(path: string): boolean {
  if (path.includes('/')) return false;
  return /\.(json|safetensors)$/.test(path) || /^(LICENSE|README\.md|MODEL_CARD\.md)$/i.test(path);
}

const segmentUrl = (path: string) => path.split('/').map(encodeURIComponent).join('/');

export function fileUrl(endpoint: string, repo: string, revision: string, path: string): string {
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${segmentUrl(path)}`;
}

async function get(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: 'follow' });
  } catch (e) {
    if (init.signal?.aborted) throw new DownloadError('aborted', 'the download was cancelled (run it again to resume)');
    throw new DownloadError(
      'network',
      `${what}: cannot reach ${new URL(url).origin} (${(e as Error).message}; ${String((e as { cause?: Error }).cause?.message ?? '')})`,
    );
  }
}

export async function listModelFiles(
  endpoint: string,
  repo: string,
  revision: string,
  signal?: AbortSignal,
): Promise<HubFile[]> {
  const url = `${endpoint.replace(/\/+$/, '')}/api/models/${repo}/tree/${encodeURIComponent(revision)}`;
  const res = await get(url, { signal }, `listing ${repo}`);
  if (res.status === 404 || res.status === 401)
    throw new DownloadError(
      'not-found',
      `${repo}@${revision} was not found on ${endpoint} (HTTP ${res.status}); check squeeze.download.repository and squeeze.download.revision (gated models need a login and are not supported)`,
    );
  if (!res.ok) throw new DownloadError('http', `listing ${repo}@${revision} on ${endpoint} failed: HTTP ${res.status}`);
  let entries: unknown;
  try {
    entries = await res.json();
  } catch (e) {
    throw new DownloadError('http', `${url} did not answer JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(entries)) throw new DownloadError('http', `${url} did not answer a file list`);
  const files: HubFile[] = [];
  for (const e of entries as {
    type?: string;
    path?: string;
    size?: number;
    oid?: string;
    lfs?: { oid?: string; size?: number };
  }[]) {
    if (e.type !== 'file' || typeof e.path !== 'string' || !wantedFile(e.path)) continue;
    files.push(
      e.lfs?.oid
        ? { path: e.path, size: e.lfs.size ?? e.size ?? 0, sha256: e.lfs.oid }
        : { path: e.path, size: e.size ?? 0, gitOid: e.oid },
    );
  }
  if (!files.some((f) => f.path === 'config.json') || !files.some((f) => f.path.endsWith('.safetensors'))) {
    throw new DownloadError(
      'unusable',
      `${repo}@${revision} has no config.json and .safetensors weights at its top level; Squeeze needs a Hugging Face transformers model folder`,
    );
  }
  return files;
}

function hasherFor(f: HubFile): Hash {
  if (f.sha256) return createHash('sha256');
  const h = createHash('sha1');
  h.update(`blob ${f.size}\0`); // git's blob header: the object id covers it
  return h;
}

const expected = (f: HubFile) => f.sha256 ?? f.gitOid;

async function hashFile(path: string, h: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

export async function downloadModel(o: DownloadOptions): Promise<DownloadResult> {
  const files = await listModelFiles(o.endpoint, o.repo, o.revision, o.signal);
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  mkdirSync(o.dest, { recursive: true });
  let doneBytes = 0,
    downloadedBytes = 0,
    reusedBytes = 0;
  for (const f of files) {
    const target = join(o.dest, f.path);
    const part = `${target}.part`;
    mkdirSync(dirname(target), { recursive: true });
    if (existsSync(target) && statSync(target).size === f.size) {
      const h = hasherFor(f);
      await hashFile(target, h);
      if (!expected(f) || h.digest('hex') === expected(f)) {
        doneBytes += f.size;
        reusedBytes += f.size;
        o.onProgress?.({ file: f.path, doneBytes, totalBytes });
        continue;
      }
      o.log?.(`${f.path}: the copy on disk does not match the hub's hash; downloading it again`);
      rmSync(target);
    }
    const got = await downloadFile(o, f, part, (n) => {
      doneBytes += n;
      o.onProgress?.({ file: f.path, doneBytes, totalBytes });
    });
    downloadedBytes += got.downloaded;
    reusedBytes += got.resumed;
    renameSync(part, target);
  }
  return { dir: o.dest, files, downloadedBytes, reusedBytes };
}

async function downloadFile(
  o: DownloadOptions,
  f: HubFile,
  part: string,
  advance: (bytes: number) => void,
): Promise<{ downloaded: number; resumed: number }> {
  let have = existsSync(part) ? statSync(part).size : 0;
  if (have > f.size) {
    rmSync(part);
    have = 0;
  }
  let h = hasherFor(f);
  if (have > 0) {
    await hashFile(part, h);
    advance(have);
    o.log?.(`${f.path}: resuming at ${have} of ${f.size} bytes`);
  }
  let resumed = have;
  let downloaded = 0;
  if (have < f.size) {
    const url = fileUrl(o.endpoint, o.repo, o.revision, f.path);
    const res = await get(url, { signal: o.signal, headers: have > 0 ? { Range: `bytes=${have}-` } : {} }, f.path);
    if (res.status === 404) throw new DownloadError('not-found', `${f.path} is listed but ${url} answers 404`);
    if (!res.ok) throw new DownloadError('http', `${url} failed: HTTP ${res.status}`);
    if (have > 0 && res.status !== 206) {
      // The server ignored the Range header and sends the whole file: start over.
      o.log?.(`${f.path}: the server does not resume (HTTP ${res.status}); starting over`);
      advance(-have);
      have = resumed = 0;
      h = hasherFor(f);
    }
    downloaded = await streamTo(o, f, res, part, have > 0 ? 'a' : 'w', h, have, advance);
  }
  verify(f, part, h, have + downloaded);
  return { downloaded, resumed };
}

/** Writes the response body to `part` (appending after a resume), hashing as it goes. */
async function streamTo(
  o: DownloadOptions,
  f: HubFile,
  res: Response,
  part: string,
  flags: 'a' | 'w',
  h: Hash,
  have: number,
  advance: (bytes: number) => void,
): Promise<number> {
  if (!res.body) throw new DownloadError('http', `${f.path}: the server answered without a body`);
  const out = createWriteStream(part, { flags });
  let n = 0;
  try {
    for await (const chunk of Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)) {
      const buf = chunk as Buffer;
      h.update(buf);
      n += buf.length;
      advance(buf.length);
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  } catch (e) {
    if (o.signal?.aborted) throw new DownloadError('aborted', 'the download was cancelled (run it again to resume)');
    throw new DownloadError(
      'network',
      `${f.path}: the connection broke after ${have + n} of ${f.size} bytes (${(e as Error).message}); run the download again to resume`,
    );
  } finally {
    await new Promise<void>((resolve) => out.end(() => resolve()));
  }
  return n;
}

function verify(f: HubFile, part: string, h: Hash, size: number): void {
  if (size !== f.size) {
    throw new DownloadError(
      'integrity',
      `${f.path}: got ${size} bytes but the hub lists ${f.size}; run the download again to resume`,
    );
  }
  const want = expected(f);
  const got = h.digest('hex');
  if (want && got !== want) {
    rmSync(part, { force: true }); // a corrupt part must not be resumed
    throw new DownloadError(
      'integrity',
      `${f.path}: ${f.sha256 ? 'sha256' : 'git sha1'} ${got} does not match the hub's ${want}; the file was deleted, run the download again`,
    );
  }
}
