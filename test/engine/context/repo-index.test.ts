// The repository index on real temporary trees: what it keeps, what it skips and why (binary,
// minified, oversized, .gitignore'd, symlink loops, dangling links, FIFOs, unreadable files),
// incremental updates, and its caps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildSync } from 'esbuild';
import { join, resolve } from 'node:path';
import { RepoIndex } from '../../../engine/context/repo-index';
import { makeRepo, removeRepo, RecordingLogger } from './helpers';

test('indexes source files and skips generated, vendored, ignored, binary, minified and huge ones with reasons', async () => {
  const root = makeRepo({
    '.gitignore': 'ignored/\n*.secret.ts\n',
    'src/a.ts': 'export function a() { return 1; }\n',
    'src/b.py': 'def b():\n    return 2\n',
    'src/notes.md': '# not source\n',
    'src/key.secret.ts': 'export const k = 1;\n',
    'ignored/x.ts': 'export const x = 1;\n',
    'node_modules/dep/index.js': 'module.exports = 1;\n',
    'dist/out.js': 'var a = 1;\n',
    'package-lock.json': '{}',
    'src/lib.min.js': 'var a=1;',
    'src/blob.ts': Buffer.from([0x65, 0x78, 0x00, 0x01, 0x02]),
    'src/packed.js': 'var x = [' + '1,'.repeat(4000) + '];\n',
    'src/huge.ts': 'export const big = 1;\n'.repeat(600),
  });
  const log = new RecordingLogger();
  try {
    const index = new RepoIndex(root, { logger: log, maxFileBytes: 10_000 });
    const stats = await index.build({ parse: true });
    assert.deepEqual(index.paths(), ['src/a.ts', 'src/b.py']);
    assert.equal(stats.files, 2);
    assert.equal(stats.parsed, 2);
    const reasons = Object.fromEntries(index.skipped);
    assert.equal(reasons['ignored'], 'ignored by .gitignore');
    assert.equal(reasons['src/key.secret.ts'], 'ignored by .gitignore');
    assert.equal(reasons['node_modules'], 'excluded directory');
    assert.equal(reasons['dist'], 'excluded directory');
    assert.equal(reasons['package-lock.json'], 'lockfile');
    assert.equal(reasons['src/lib.min.js'], 'minified (by name)');
    assert.equal(reasons['src/blob.ts'], 'binary (NUL byte)');
    assert.match(reasons['src/packed.js']!, /minified or generated \(a line of 8\d\d\d bytes\)/);
    assert.match(reasons['src/huge.ts']!, /too large \(13200 bytes > 10000\)/);
    assert.ok(log.find(/skip src\/blob.ts: binary/));
    assert.equal(reasons['src/notes.md'], undefined, 'non-source files are left out silently');
    assert.deepEqual(index.definersOf('a'), ['src/a.ts']);
  } finally {
    removeRepo(root);
  }
});

test('symlink loops, dangling symlinks and FIFOs are skipped with a logged reason (and do not hang)', async () => {
  const root = makeRepo({ 'src/a.ts': 'export const a = 1;\n', 'other/b.ts': 'export const b = 1;\n' });
  try {
    symlinkSync('..', join(root, 'src/loop')); // src/loop → the root: a cycle
    symlinkSync('../other', join(root, 'src/alias')); // a second way into other/
    symlinkSync('missing.ts', join(root, 'src/dead.ts')); // dangling
    symlinkSync('a.ts', join(root, 'src/link.ts')); // a file link inside the root is fine
    execFileSync('mkfifo', [join(root, 'src/pipe.ts')]); // reading it would block forever
    const log = new RecordingLogger();
    const index = new RepoIndex(root, { logger: log });
    await index.build();
    assert.deepEqual(index.paths(), ['other/b.ts', 'src/a.ts', 'src/link.ts']);
    assert.match(index.skipped.get('src/loop')!, /symlink loop/);
    assert.match(index.skipped.get('src/alias')!, /symlink loop or duplicate/);
    assert.equal(index.skipped.get('src/dead.ts'), 'dangling symlink');
    assert.equal(index.skipped.get('src/pipe.ts'), 'not a regular file (FIFO)');
    assert.ok(log.find(/^warn skip src\/loop: symlink loop/));
    assert.ok(log.find(/^warn skip src\/pipe.ts: not a regular file/));
  } finally {
    removeRepo(root);
  }
});

test('unreadable files and directories are skipped with EACCES (as an unprivileged user when run as root)', async () => {
  const root = makeRepo({
    'src/ok.ts': 'export const ok = 1;\n',
    'src/locked.ts': 'export const no = 1;\n',
    'closed/c.ts': 'export const c = 1;\n',
  });
  try {
    chmodSync(join(root, 'src/locked.ts'), 0o000);
    chmodSync(join(root, 'closed'), 0o000);
    if (process.getuid?.() !== 0) {
      const index = new RepoIndex(root, { logger: new RecordingLogger() });
      await index.build();
      assert.deepEqual(index.paths(), ['src/ok.ts']);
      assert.match(index.skipped.get('src/locked.ts')!, /unreadable: EACCES/);
      return;
    }
    // root reads mode-000 files anyway, so index from a child process running as `nobody`. That
    // user may not reach this checkout (a clone inside a 0700 home or mktemp folder), so the
    // RepoIndex is bundled by esbuild into a world-readable folder and run by plain node.
    chmodSync(root, 0o755);
    const dir = mkdtempSync(join(tmpdir(), 'squeeze-index-as-nobody-'));
    chmodSync(dir, 0o755);
    const entry = join(dir, 'entry.ts');
    writeFileSync(
      entry,
      `
      import { RepoIndex } from ${JSON.stringify(resolve('engine/context/repo-index.ts'))};
      const index = new RepoIndex(${JSON.stringify(root)});
      index.build().then(() => console.log(JSON.stringify({ paths: index.paths(), skipped: [...index.skipped] })));
    `,
    );
    try {
      buildSync({
        entryPoints: [entry],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        outfile: join(dir, 'index.cjs'),
        logLevel: 'error',
      });
      chmodSync(join(dir, 'index.cjs'), 0o644);
      const r = spawnSync(process.execPath, [join(dir, 'index.cjs')], {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
        cwd: dir,
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { paths: string[]; skipped: [string, string][] };
      const skipped = Object.fromEntries(out.skipped);
      assert.deepEqual(out.paths, ['src/ok.ts']);
      assert.match(skipped['src/locked.ts']!, /^unreadable: EACCES/);
      assert.match(skipped['closed']!, /^unreadable directory: EACCES/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    chmodSync(join(root, 'closed'), 0o755);
    removeRepo(root);
  }
});

test('incremental updates: change, unsaved text, delete, directory delete, ignored paths', async () => {
  const root = makeRepo({
    'src/a.ts': 'export function alpha() {}\n',
    'src/sub/b.ts': 'export function beta() {}\n',
    '.gitignore': 'gen/\n',
  });
  try {
    const index = new RepoIndex(root);
    await index.build({ parse: true });
    assert.deepEqual(index.definersOf('alpha'), ['src/a.ts']);
    const v1 = index.get('src/a.ts')!.version;

    writeFileSync(join(root, 'src/a.ts'), 'export function gamma() {}\n');
    assert.equal(index.update('src/a.ts'), true);
    assert.ok(index.get('src/a.ts')!.version > v1);
    await index.outline('src/a.ts');
    assert.deepEqual(index.definersOf('alpha'), []);
    assert.deepEqual(index.definersOf('gamma'), ['src/a.ts']);

    assert.equal(index.update('src/a.ts', 'export function delta() {}\n'), true, 'an unsaved buffer');
    assert.equal(index.outlineSync('src/a.ts')!.symbols[0]!.name, 'delta');

    mkdirSync(join(root, 'src/new'));
    writeFileSync(join(root, 'src/new/c.ts'), 'export const c = 1;\n');
    assert.equal(index.update('src/new/c.ts'), true);
    assert.deepEqual(index.filesInDir('src/new'), ['src/new/c.ts']);

    mkdirSync(join(root, 'gen'));
    writeFileSync(join(root, 'gen/g.ts'), 'export const g = 1;\n');
    assert.equal(index.update('gen/g.ts'), false, 'ignored by .gitignore');
    assert.equal(index.update('node_modules/x/i.ts', 'x'), false, 'excluded directory');

    unlinkSync(join(root, 'src/a.ts'));
    assert.equal(index.update('src/a.ts'), false);
    assert.equal(index.has('src/a.ts'), false);
    assert.deepEqual(index.definersOf('delta'), []);

    index.remove('src/sub');
    assert.deepEqual(index.paths(), ['src/new/c.ts']);
  } finally {
    removeRepo(root);
  }
});

test('the file and byte caps bound the index and are logged once', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 10; i++) files[`f${i}.ts`] = `export const v${i} = ${'1'.repeat(100)};\n`;
  const root = makeRepo(files);
  try {
    const log = new RecordingLogger();
    const byCount = new RepoIndex(root, { logger: log, maxFiles: 3 });
    await byCount.build();
    assert.equal(byCount.size, 3);
    assert.equal(log.lines.filter((l) => /index is full/.test(l)).length, 1);
    const byBytes = new RepoIndex(root, { maxTotalBytes: 500 });
    await byBytes.build();
    assert.equal(byBytes.size, 4);
    assert.ok(byBytes.chars <= 500);
  } finally {
    removeRepo(root);
  }
});

test('similarChunks finds the chunk that shares the most identifiers', async () => {
  const filler = (n: number) => Array.from({ length: n }, (_, i) => `const filler${i} = ${i};`).join('\n');
  const root = makeRepo({
    'a.ts':
      filler(20) +
      '\nfunction render(canvas, sprite, viewport) {\n  canvas.drawImage(sprite, viewport.x, viewport.y);\n}\n',
    'b.ts': 'export function parse(tokens, grammar) { return grammar.rules(tokens); }\n',
    'cur.ts': 'canvas.drawImage(sprite, viewport.x)\n',
  });
  try {
    const index = new RepoIndex(root);
    await index.build();
    const hits = index.similarChunks(new Set(['canvas', 'sprite', 'viewport', 'drawImage']), 'cur.ts', 5);
    assert.equal(hits[0]!.path, 'a.ts');
    assert.equal(hits[0]!.startLine, 20, 'the second 20-line chunk of a.ts');
    assert.ok(hits.every((h) => h.path !== 'cur.ts'));
  } finally {
    removeRepo(root);
  }
});
