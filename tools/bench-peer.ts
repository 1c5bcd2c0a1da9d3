// npm run bench:peer: Squeeze against llama.cpp (node-llama-cpp's prebuilt CPU binary) on the same
// weights, side by side. The model is a Qwen2.5-Coder-0.5B-shaped random model written by
// tools/make-random-model.ts as bf16 safetensors and GGUF files of the same values (made on the first
// run). Pairs at equal precision, each engine reading the same GGUF file:
//   fp16 ↔ F16 (Squeeze --weights fp16), int8 ↔ Q8_0, int4 ↔ Q4_0, Q4_K_M ↔ Q4_K_M (both native)
// plus Squeeze's own round-to-nearest int8/int4 from the safetensors (no llama.cpp pair).
// Every run is a fresh process (peak RSS is the kernel's high-water mark); runs are interleaved,
// squeeze and llama.cpp alternating, and the table shows medians. Squeeze's first run of a pair
// starts from an empty prepared-model cache (cold load); later runs load from it (cached).
//   npm run bench:peer -- [--shape 0.5b] [--tokens 1024,4096] [--reps 3] [--new 32] [--threads 2]
//        [--pairs fp16,int8,int4,q4km,rtn] [--dir /work/models]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { packerRunning } from '../native/runtime/packed-model';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const ROOT = join(__dirname, '..');
const shape = arg('shape', '0.5b');
const sizes = arg('tokens', '1024,4096').split(',').map(Number);
const reps = Number(arg('reps', '3'));
const newTokens = arg('new', '32');
const threads = arg('threads', '2');
const dir = arg('dir', join(tmpdir(), 'squeeze-peer-models'));
const wanted = arg('pairs', 'fp16,int8,int4,q4km,rtn').split(',');

const base = join(dir, `random-${shape}`);
const gguf = (t: string) => `${base}.${t}.gguf`;
if (!['F16', 'Q8_0', 'Q4_0', 'Q4_K_M'].every((t) => existsSync(gguf(t)))) {
  mkdirSync(dir, { recursive: true });
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'tools', 'make-random-model.ts'),
      '--shape',
      shape,
      '--out',
      base,
      '--gguf',
      'F16,Q8_0,Q4_0,Q4_K_M',
    ],
    { stdio: 'inherit' },
  );
}
const idsFile = join(dir, 'prompt-ids.json');
const maxTokens = Math.max(...sizes);
writeFileSync(idsFile, JSON.stringify(Array.from({ length: maxTokens }, (_, i) => 10 + ((i * 7919 + 13) % 1000))));

interface Pair {
  name: string;
  ours: { model: string; weights: string };
  llama?: string;
}
const PAIRS: Record<string, Pair[]> = {
  fp16: [{ name: 'fp16 ↔ F16', ours: { model: gguf('F16'), weights: 'fp16' }, llama: gguf('F16') }],
  int8: [{ name: 'int8 ↔ Q8_0', ours: { model: gguf('Q8_0'), weights: 'auto' }, llama: gguf('Q8_0') }],
  int4: [{ name: 'int4 ↔ Q4_0', ours: { model: gguf('Q4_0'), weights: 'auto' }, llama: gguf('Q4_0') }],
  q4km: [{ name: 'Q4_K_M ↔ Q4_K_M', ours: { model: gguf('Q4_K_M'), weights: 'auto' }, llama: gguf('Q4_K_M') }],
  rtn: [
    { name: 'int8 (RTN from bf16)', ours: { model: base, weights: 'int8' } },
    { name: 'int4 (RTN from bf16)', ours: { model: base, weights: 'int4' } },
  ],
};
const pairs = wanted.flatMap((w) => PAIRS[w] ?? []);

interface Run {
  loadMs: number;
  prefillTps: number;
  decodeMsPerToken: number;
  peakRssMB: number;
  kvBytes: number;
  ids: number[];
  weights: { bits: number; bytes: number } | null;
}
function run(engine: 'squeeze' | 'llama', model: string, tokens: number, extra: string[] = []): Run {
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'tools', 'bench-peer-run.ts'),
      '--engine',
      engine,
      '--model',
      model,
      '--ids',
      idsFile,
      '--tokens',
      String(tokens),
      '--new',
      newTokens,
      '--threads',
      threads,
      ...extra,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
  );
  const line = out.trim().split('\n').pop()!;
  process.stderr.write(`${line}\n`);
  return JSON.parse(line) as Run;
}

/** Blocks until no entry of the prepared-model cache `root` has a packer at work. */
function waitForPacker(root: string): void {
  const busy = () => readdirSync(root).some((e) => !e.startsWith('.') && packerRunning(join(root, e)));
  const until = Date.now() + 300_000;
  while (busy() && Date.now() < until) execFileSync('sleep', ['0.5']);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const load0 = loadavg()[0]!;
const rows: string[] = [];
for (const tokens of sizes) {
  for (const p of pairs) {
    const cache = mkdtempSync(join(tmpdir(), 'squeeze-peer-cache-'));
    const ours: Run[] = [];
    const theirs: Run[] = [];
    for (let r = 0; r < reps; r++) {
      const oursRun = () => {
        ours.push(run('squeeze', p.ours.model, tokens, ['--weights', p.ours.weights, '--cache-dir', cache]));
        // The first load leaves a background packer writing the CPU's packed copy
        // (native/runtime/packed-model.ts): let it finish so it neither slows the next run nor
        // llama.cpp's, and later runs measure the cached load a user gets from then on.
        waitForPacker(cache);
      };
      const theirRun = () => p.llama && theirs.push(run('llama', p.llama, tokens));
      // Alternate which engine goes first, so neither always runs on a warmer machine.
      if (r % 2 === 0) {
        oursRun();
        theirRun();
      } else {
        theirRun();
        oursRun();
      }
      process.stderr.write(`${tokens} tokens, ${p.name}: rep ${r + 1}/${reps}\n`);
    }
    rmSync(cache, { recursive: true, force: true });
    const m = (xs: Run[], f: (r: Run) => number) => median(xs.map(f));
    const cold = ours[0]!.loadMs;
    const cached = m(ours.slice(1), (r) => r.loadMs);
    const cell = (o: number, t: number | undefined, digits = 0, higherIsBetter = false) =>
      t === undefined
        ? o.toFixed(digits)
        : `${o.toFixed(digits)} / ${t.toFixed(digits)} (${(higherIsBetter ? o / t : t / o).toFixed(2)}×)`;
    const agree = () => {
      if (!theirs.length) return '—';
      const a = ours[0]!.ids;
      const b = theirs[0]!.ids;
      const at = a.findIndex((t, i) => t !== b[i]);
      return at === -1 ? `${a.length}/${b.length} same` : `first differ at ${at}`;
    };
    const t = theirs.length ? theirs : undefined;
    rows.push(
      `| ${tokens} | ${p.name} | ${ours[0]!.weights ? `${Math.round(ours[0]!.weights.bytes / 2 ** 20)} MiB` : ''} | ` +
        `${cell(cold, t && m(t, (r) => r.loadMs))} | ${cached.toFixed(0)} | ` +
        `${cell(
          m(ours, (r) => r.prefillTps),
          t && m(t, (r) => r.prefillTps),
          0,
          true,
        )} | ` +
        `${cell(
          m(ours, (r) => r.decodeMsPerToken),
          t && m(t, (r) => r.decodeMsPerToken),
          1,
        )} | ` +
        `${cell(
          m(ours, (r) => r.peakRssMB),
          t && m(t, (r) => r.peakRssMB),
        )} | ` +
        `${(ours[0]!.kvBytes / 2 ** 20).toFixed(1)}${t ? ` / ${(t[0]!.kvBytes / 2 ** 20).toFixed(1)}` : ''} | ${agree()} |`,
    );
  }
}

const cpu = cpus();
console.log(
  `\n## bench:peer: Squeeze / llama.cpp, ${shape}-shaped random model, CPU, ${threads} threads, ${newTokens} new tokens, median of ${reps}\n`,
);
console.log(
  `${cpu[0]?.model ?? 'CPU'} (${cpu.length} cores), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${load0.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end; ${new Date().toISOString().slice(0, 10)}\n`,
);
console.log('Each cell: Squeeze / llama.cpp (ratio: how many times better Squeeze is; below 1, worse).\n');
console.log(
  '| prompt | pair | weights | load ms (Squeeze cold) | Squeeze cached load ms | prefill tok/s | decode ms/token | peak RSS MB | KV MiB | greedy ids |',
);
console.log('|---:|---|---:|---|---:|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(
  `\nmodel files: ${base}{,.F16,.Q8_0,.Q4_0,.Q4_K_M}.gguf; results of single runs are in this process's stderr.`,
);
