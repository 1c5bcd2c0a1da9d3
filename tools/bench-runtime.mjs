// Runtime benchmark: a long prompt through `squeeze complete` on a ~30M-parameter Qwen2-shaped
// model with random weights (made by tools/make-random-model.ts), printing prefill speed, decode
// speed and peak RSS.
//   npm run bench:runtime -- [--tokens 16384] [--ep cpu] [--chunk 256 on CPU, 512 on GPU] [--new 16]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir, cpus } from 'node:os';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
// The chunk defaults to the engine's choice per provider (engine/completion/prefill.ts).
const tokens = +arg('tokens', 16384),
  ep = arg('ep', 'cpu'),
  chunk = +arg('chunk', ep === 'cpu' ? 256 : 512),
  maxNew = +arg('new', 16);
// The same folder as tools/random-model-dir.ts uses for the other benchmarks.
const modelDir = join(tmpdir(), 'squeeze-random-30m');
if (!existsSync(join(modelDir, 'config.json')))
  execFileSync(
    process.execPath,
    ['--import', 'tsx', 'tools/make-random-model.ts', '--shape', '30m', '--out', modelDir],
    { stdio: 'inherit' },
  );
mkdirSync(join(tmpdir(), 'squeeze-bench'), { recursive: true });
const idsFile = join(tmpdir(), 'squeeze-bench', `prompt-${tokens}.json`);
// Token ids 10..1009 in a fixed pseudo-random order: no special tokens, deterministic.
writeFileSync(idsFile, JSON.stringify(Array.from({ length: tokens }, (_, i) => 10 + ((i * 7919 + 13) % 1000))));
const out = execFileSync(
  process.execPath,
  [
    'dist/cli.js',
    'complete',
    '--model',
    modelDir,
    '--prompt-ids',
    idsFile,
    '--max-new-tokens',
    String(maxNew),
    '--ep',
    ep,
    '--prefill-chunk',
    String(chunk),
    '--json',
  ],
  { encoding: 'utf8', maxBuffer: 1 << 26 },
);
const r = JSON.parse(out.trim().split('\n').pop());
const row = {
  machine: `${cpus().length}x ${cpus()[0]?.model?.trim()}`,
  ep: r.ep,
  promptTokens: r.promptTokens,
  chunk,
  loadMs: r.timings.loadMs,
  prefillTokPerS: Math.round(r.promptTokens / (r.timings.prefillMs / 1000)),
  prefillS: +(r.timings.prefillMs / 1000).toFixed(1),
  decodeMsPerToken: r.timings.decodeMsPerToken,
  kvMB: +(r.kv.bytes / 2 ** 20).toFixed(1),
  peakRssMB: r.peakRssMB,
};
console.log('| ' + Object.keys(row).join(' | ') + ' |');
console.log(
  '|' +
    Object.keys(row)
      .map(() => '---')
      .join('|') +
    '|',
);
console.log('| ' + Object.values(row).join(' | ') + ' |');
if (r.peakRssMB > 4096) {
  console.error(`peak RSS ${r.peakRssMB} MB exceeds the 4 GB goal`);
  process.exitCode = 1;
}
