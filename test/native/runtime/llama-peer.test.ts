// The same GGUF file through `squeeze complete` and through llama.cpp (node-llama-cpp's prebuilt CPU
// binary): identical greedy ids. llama.cpp is the independent reader of the files our writer makes
// and of every ggml block type our loader re-expresses (F16, Q8_0 on the transformers fixtures, both
// architectures; the K-quants and Q4_0 on a random model wide enough for 256-element blocks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureDir, loadReference } from '../../helpers/fixtures';
import { ggufFrom, type GgufKind } from '../../helpers/gguf';

type Llama = Awaited<ReturnType<typeof import('node-llama-cpp')['getLlama']>>;
let llama: Llama;
const dir = mkdtempSync(join(tmpdir(), 'sq-peer-'));

before(async () => {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
});
after(async () => {
  await llama?.dispose();
});

async function llamaGreedy(file: string, prompt: number[], n: number): Promise<number[]> {
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 512, threads: 2 });
  try {
    const out: number[] = [];
    // node-llama-cpp brands token ids; ours are plain numbers of the same vocabulary.
    const tokens = prompt as unknown as Parameters<ReturnType<typeof ctx.getSequence>['evaluate']>[0];
    for await (const t of ctx.getSequence().evaluate(tokens, { temperature: 0 })) {
      out.push(t as unknown as number);
      if (out.length >= n) break;
    }
    return out;
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}

function squeezeGreedy(file: string, prompt: number[], n: number): { ids: number[]; weights: { bits: number } } {
  const ids = join(dir, 'ids.json');
  writeFileSync(ids, JSON.stringify(prompt));
  const args = [
    'complete',
    '--model',
    file,
    '--prompt-ids',
    ids,
    '--max-new-tokens',
    String(n),
    '--ep',
    'cpu',
    '--json',
  ];
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

for (const fam of ['qwen2', 'llama'] as const) {
  for (const kind of ['F16', 'Q8_0'] as const) {
    test(`${fam} ${kind} GGUF: the same greedy ids as llama.cpp on the same file (and as transformers)`, async () => {
      const file = ggufFrom(fixtureDir(fam), kind, join(dir, `${fam}-${kind}.gguf`));
      const c = loadReference(fam).cases[0]!;
      const theirs = await llamaGreedy(file, c.input_ids, 20);
      const ours = squeezeGreedy(file, c.input_ids, 20);
      assert.deepEqual(ours.ids, theirs);
      if (kind === 'F16') assert.deepEqual(ours.ids, c.greedy_20, 'F16 copies of bf16/fp16 weights change nothing');
    });
  }
}

test('Q4_0, Q5_0, Q4_K_M, Q5_K and Q6_K GGUF: the same greedy ids as llama.cpp on a random 256-wide model', async () => {
  const model = join(dir, 'rnd');
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'tools/make-random-model.ts',
      '--out',
      model,
      '--hidden',
      '256',
      '--layers',
      '2',
      '--heads',
      '4',
      '--kv-heads',
      '2',
      '--intermediate',
      '512',
    ],
    { stdio: 'ignore' },
  );
  const prompt = Array.from({ length: 48 }, (_, i) => 10 + ((i * 7919 + 13) % 1000));
  for (const kind of ['Q4_0', 'Q5_0', 'Q4_K_M', 'Q5_K', 'Q6_K'] as GgufKind[]) {
    const file = ggufFrom(model, kind, join(dir, `rnd-${kind}.gguf`));
    const ours = squeezeGreedy(file, prompt, 16);
    assert.deepEqual(ours.ids, await llamaGreedy(file, prompt, 16), kind);
    assert.ok(
      ours.weights.bits === 4 || ours.weights.bits === 8,
      `${kind} stays quantized (${ours.weights.bits} bits)`,
    );
  }
});
