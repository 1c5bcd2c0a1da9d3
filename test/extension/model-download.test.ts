// The model download against a local hub (test/helpers/hub-server.ts) serving the fixture model:
// the hub's URL layout and redirect, resume with HTTP Range after a broken transfer, size and hash
// checks, skipping verified files, and the errors a user sees.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadModel, DownloadError, fileUrl, type DownloadProgress } from '../../extension/model-download';
import { startHubServer, type HubServer } from '../helpers/hub-server';
import { fixtureDir } from '../helpers/fixtures';
import { loadModelConfig } from '../../engine/model/config';

const REPO = 'squeeze-test/qwen2-tiny-random';
const SRC = fixtureDir('qwen2');
const WEIGHTS = 'model.safetensors';
let hub: HubServer | undefined;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'squeeze-dl-'));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  await hub?.close();
  hub = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const same = (dest: string, f: string) => readFileSync(join(dest, f)).equals(readFileSync(join(SRC, f)));

test('downloads the model folder through the hub layout, with progress, into a loadable folder', async () => {
  hub = await startHubServer({ repos: { [REPO]: SRC } });
  const dest = tempDir();
  const progress: DownloadProgress[] = [];
  const r = await downloadModel({
    endpoint: hub.endpoint,
    repo: REPO,
    revision: 'main',
    dest,
    onProgress: (p) => progress.push(p),
  });
  const expected = [
    'config.json',
    'generation_config.json',
    WEIGHTS,
    'reference.json',
    'tokenizer.json',
    'tokenizer_config.json',
  ];
  assert.deepEqual(readdirSync(dest).sort(), expected);
  for (const f of expected) assert.ok(same(dest, f), `${f} is byte-identical`);
  assert.equal(
    r.downloadedBytes,
    expected.reduce((n, f) => n + statSync(join(SRC, f)).size, 0),
  );
  assert.equal(r.reusedBytes, 0);
  assert.equal(progress.at(-1)!.doneBytes, progress.at(-1)!.totalBytes);
  assert.ok(
    hub.requests.some((q) => q.url === `/${REPO}/resolve/main/${WEIGHTS}` && q.status === 302),
    'went through resolve/{rev}/{file}',
  );
  assert.equal(loadModelConfig(dest).layers, 2, 'the folder loads');
  // A second run verifies what is there and fetches nothing.
  const before = hub.requests.length;
  const again = await downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', dest });
  assert.equal(again.downloadedBytes, 0);
  assert.equal(again.reusedBytes, r.downloadedBytes);
  assert.equal(hub.requests.length, before + 1, 'only the listing');
});

test('a broken transfer resumes with a Range request and ends byte-identical', async () => {
  hub = await startHubServer({ repos: { [REPO]: SRC }, breakOnce: { file: WEIGHTS, afterBytes: 200_000 } });
  const dest = tempDir();
  await assert.rejects(
    downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', dest }),
    (e: unknown) =>
      e instanceof DownloadError && e.kind === 'network' && /run the download again to resume/.test(e.message),
  );
  const part = join(dest, `${WEIGHTS}.part`);
  assert.ok(existsSync(part));
  const have = statSync(part).size;
  assert.ok(have > 0 && have < statSync(join(SRC, WEIGHTS)).size, `partial: ${have} bytes`);
  const r = await downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', dest });
  assert.ok(
    hub.requests.some((q) => q.range === `bytes=${have}-` && q.status === 206),
    'asked for the rest only',
  );
  const weightRequests = hub.requests.filter((q) => q.url.endsWith(`/${WEIGHTS}`) && q.url.startsWith('/files/'));
  assert.equal(weightRequests.length, 2, 'one broken transfer, one resume');
  const before = ['config.json', 'generation_config.json'].reduce((n, f) => n + statSync(join(SRC, f)).size, 0);
  assert.equal(r.reusedBytes, before + have, 'the files done before the break and the part were kept');
  assert.ok(same(dest, WEIGHTS));
  assert.ok(!existsSync(part));
});

test('a server that ignores Range: the file starts over and still verifies', async () => {
  hub = await startHubServer({ repos: { [REPO]: SRC }, ignoreRange: true });
  const dest = tempDir();
  writeFileSync(join(dest, `${WEIGHTS}.part`), readFileSync(join(SRC, WEIGHTS)).subarray(0, 1000));
  await downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', dest });
  assert.ok(same(dest, WEIGHTS));
});

test('a corrupt file fails its sha256 check and is deleted; a wrong regular file fails its git hash', async () => {
  hub = await startHubServer({ repos: { [REPO]: SRC }, corrupt: WEIGHTS });
  const dest = tempDir();
  await assert.rejects(
    downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', dest }),
    (e: unknown) =>
      e instanceof DownloadError &&
      e.kind === 'integrity' &&
      /model\.safetensors: sha256 [0-9a-f]{64} does not match/.test(e.message),
  );
  assert.ok(!existsSync(join(dest, WEIGHTS)) && !existsSync(join(dest, `${WEIGHTS}.part`)));
  await hub.close();
  hub = await startHubServer({ repos: { [REPO]: SRC }, corrupt: 'config.json', isLfs: () => false });
  await assert.rejects(
    downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', dest: tempDir() }),
    (e: unknown) => e instanceof DownloadError && e.kind === 'integrity' && /config\.json: git sha1/.test(e.message),
  );
});

test('errors: unknown repository, unreachable endpoint, cancellation keeps the part', async () => {
  hub = await startHubServer({ repos: { [REPO]: SRC }, slow: true });
  await assert.rejects(
    downloadModel({ endpoint: hub.endpoint, repo: 'nobody/nothing', revision: 'main', dest: tempDir() }),
    (e: unknown) =>
      e instanceof DownloadError && e.kind === 'not-found' && /squeeze\.download\.repository/.test(e.message),
  );
  await assert.rejects(
    downloadModel({ endpoint: 'http://127.0.0.1:9', repo: REPO, revision: 'main', dest: tempDir() }),
    (e: unknown) =>
      e instanceof DownloadError && e.kind === 'network' && /cannot reach http:\/\/127\.0\.0\.1:9/.test(e.message),
  );
  const ctl = new AbortController();
  const dest = tempDir();
  const p = downloadModel({
    endpoint: hub.endpoint,
    repo: REPO,
    revision: 'main',
    dest,
    signal: ctl.signal,
    onProgress: (q) => {
      if (q.file === WEIGHTS && q.doneBytes > 64_000) ctl.abort();
    },
  });
  await assert.rejects(p, (e: unknown) => e instanceof DownloadError && e.kind === 'aborted');
  assert.ok(existsSync(join(dest, `${WEIGHTS}.part`)), 'the part stays for a resume');
});

test('file URLs follow the hub layout, with encoded revisions and paths', () => {
  assert.equal(
    fileUrl('https://huggingface.co/', 'Qwen/Qwen2.5-Coder-0.5B', 'main', 'model.safetensors'),
    'https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B/resolve/main/model.safetensors',
  );
  assert.equal(fileUrl('http://h', 'a/b', 'refs/pr/1', 'x y.json'), 'http://h/a/b/resolve/refs%2Fpr%2F1/x%20y.json');
});
