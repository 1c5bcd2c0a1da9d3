// One measured run for bench-peer.ts, in a process of its own so its peak RSS is its own:
//   tsx tools/bench-peer-run.ts --engine squeeze|llama --model PATH --ids IDS.json --tokens N
//        [--new 32] [--threads 2] [--weights auto|int4|int8|fp16|fp32] [--cache-dir DIR]
// Prints one JSON line: load, prefill, decode, peak RSS, KV bytes and the greedy ids.
// squeeze runs the CompletionService with the full fp16 cache (as llama.cpp's default F16 KV);
// llama.cpp runs through node-llama-cpp's prebuilt CPU binary.
import { readFileSync } from 'node:fs';
import { openModelSource } from '../engine/model/source';
import { fp16Bytes } from '../engine/kv/geometry';

const arg = (name: string, fallback?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const engine = arg('engine')!;
const model = arg('model')!;
const tokens = Number(arg('tokens', '4096'));
const newTokens = Number(arg('new', '32'));
const threads = Number(arg('threads', '2'));
const ids = (JSON.parse(readFileSync(arg('ids')!, 'utf8')) as number[]).slice(0, tokens);
if (ids.length < tokens) throw new Error(`--ids holds ${ids.length} ids, ${tokens} asked`);
const peakRssMB = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function squeeze() {
  const { loadCompletionService } = await import('../engine/completion/load-service');
  const { DEFAULT_SERVICE_CONFIG } = await import('../engine/completion/service-types');
  const t0 = performance.now();
  const service = await loadCompletionService(model, {
    provider: 'cpu',
    threads,
    requireFim: false,
    weights: (arg('weights', 'auto') as 'auto') ?? 'auto',
    cacheDir: arg('cache-dir'),
    config: {
      ...DEFAULT_SERVICE_CONFIG,
      kv: { policy: 'full', budget: { kind: 'ratio', value: 1 } },
      maxTokens: newTokens,
    },
  });
  const loadMs = performance.now() - t0;
  const r = await service.complete({ block: { ids }, prompt: { ids: [] }, timeCapMs: null, maxTokens: newTokens });
  const s = r.stats;
  return {
    loadMs,
    prefillMs: s.blockPrefillMs,
    decodeMsPerToken: s.decodeMsPerToken,
    kvBytes: s.kv.bytes,
    weights: service.info.weights,
    ids: r.ids,
  };
}

async function llama() {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const t0 = performance.now();
  const l = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const m = await l.loadModel({ modelPath: model, gpuLayers: 0 });
  const ctx = await m.createContext({ contextSize: tokens + newTokens + 16, threads });
  const loadMs = performance.now() - t0;
  const out: number[] = [];
  const t1 = performance.now();
  let tFirst = t1;
  const seq = ctx.getSequence();
  const prompt = ids as unknown as Parameters<typeof seq.evaluate>[0];
  for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
    if (out.length === 0) tFirst = performance.now();
    out.push(t as unknown as number);
    if (out.length >= newTokens) break;
  }
  const tEnd = performance.now();
  // llama.cpp's F16 cache for the context it was given.
  const spec = openModelSource(model).spec;
  const kvBytes = fp16Bytes(
    { layers: spec.layers, kvHeads: spec.kvHeads, qHeads: spec.qHeads, headDim: spec.headDim },
    tokens + newTokens + 16,
  );
  return {
    loadMs,
    prefillMs: tFirst - t1,
    decodeMsPerToken: out.length > 1 ? (tEnd - tFirst) / (out.length - 1) : 0,
    kvBytes,
    weights: null,
    ids: out,
  };
}

(engine === 'llama' ? llama() : squeeze()).then(
  (r) => {
    console.log(
      JSON.stringify({
        engine,
        model,
        tokens,
        ...r,
        prefillTps: tokens / (r.prefillMs / 1000),
        peakRssMB: peakRssMB(),
      }),
    );
    process.exit(0);
  },
  (e) => {
    console.error(`bench-peer-run: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
