import { cpus } from 'node:os';
import { randomModelDir } from './random-model-dir';
import { loadModel } from '../native/runtime/model-loader';
import { makePlan, headIn } from '../engine/kv/policy';
import { storeFromPlan, geometryOf } from '../engine/completion/kv-compression';
import { createPolicy } from '../engine/kv/policies';
import type { KvState } from '../native/runtime/kv-state';

const arg = (n: string, d: string) => {
  const i = process.argv.indexOf(`--${n}`);
  return i === -1 ? d : process.argv[i + 1]!;
};
const policy = arg('policy', 'full'),
  T = +arg('tokens', '16384'),
  steps = +arg('steps', '8');
const mb = (b: number) => +(b / 2 ** 20).toFixed(1);

async function main() {
  const dir = randomModelDir('30m');
  const m = await loadModel(dir, {
    provider: 'cpu',
    observationWindow: 8,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group: 64,
  });
  const { spec, decoder } = m;
  const g = geometryOf(spec);
  // Random fp16 K/V of T tokens per layer, [Hkv, T, D].
  const n = spec.kvHeads * T * spec.headDim;
  const rand = () =>
    Uint16Array.from(
      { length: n },
      () => 0x3000 + Math.floor(Math.random() * 0x0c00) + (Math.random() < 0.5 ? 0x8000 : 0),
    );
  const keys = Array.from({ length: spec.layers }, rand),
    values = Array.from({ length: spec.layers }, rand);
  const all = Int32Array.from({ length: T }, (_, i) => i);
  const input = { geometry: g, tokens: T, budget: { kind: 'ratio' as const, value: 0.25 }, group: 64, window: 8 };
  let kv: KvState;
  let label: string;
  if (policy === 'full') {
    kv = decoder.kvFromStore(
      storeFromPlan(
        spec,
        makePlan(
          { ...input, budget: { kind: 'ratio', value: 1 } },
          'full',
          g.kvHeads
            ? Array.from({ length: g.layers }, () => Array.from({ length: g.kvHeads }, () => headIn('fp16', all)))
            : [],
          'all fp16',
        ),
        keys,
        values,
      ),
    );
    label = 'full (fp16, all tokens)';
  } else if (policy === 'quant4') {
    kv = decoder.kvFromStore(
      storeFromPlan(
        spec,
        makePlan(
          { ...input, budget: { kind: 'ratio', value: 1 } },
          'quant',
          Array.from({ length: g.layers }, () => Array.from({ length: g.kvHeads }, () => headIn('q4', all))),
          'all 4-bit',
        ),
        keys,
        values,
      ),
    );
    label = 'quant (4-bit, all tokens)';
  } else {
    const scores = Array.from({ length: g.layers }, () =>
      Array.from({ length: g.kvHeads }, () => Float32Array.from({ length: T }, () => Math.random())),
    );
    const plan = createPolicy(policy).plan({ ...input, scores });
    kv = decoder.kvFromStore(storeFromPlan(spec, plan, keys, values));
    label = `${policy} @0.25: ${plan.summary.reason.slice(0, 80)}`;
  }
  const held = decoder.kvStats(kv).bytes;
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.resourceUsage().maxRSS * 1024;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  let state = kv;
  for (let i = 0; i < steps; i++) state = (await decoder.forward([42 + i], [T + i], state)).present;
  const ms = (performance.now() - t0) / steps;
  const after = process.resourceUsage().maxRSS * 1024;
  console.log(
    JSON.stringify({
      machine: `${cpus().length}x ${cpus()[0]?.model.trim()}`,
      policy: label,
      tokens: T,
      kvHeldMB: mb(held),
      fp16MB: mb(2 * spec.layers * spec.kvHeads * spec.headDim * 2 * T),
      rssBeforeDecodeMB: mb(rssBefore),
      peakRssGrowthDuringDecodeMB: mb(Math.max(0, after - before)),
      peakRssMB: mb(after),
      decodeMsPerToken: +ms.toFixed(1),
    }),
  );
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
