import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { randomModelDir } from './random-model-dir';
import { loadCompletionService } from '../engine/completion/load-service';
import { parseBudgetText } from '../engine/kv/budget-text';
import { formatBytes } from '../engine/numeric/bytes';
import {
  DEFAULT_KV_BUDGET_TEXT,
  DEFAULT_KV_POLICY,
  DEFAULT_SERVICE_CONFIG,
  type CompletionRequest,
  type CompletionStats,
} from '../engine/completion/service-types';
import { assemblePrompt } from '../engine/context/prompt';
import type { ContextPiece } from '../engine/context/types';
import type { ProviderChoice } from '../native/runtime/execution-target';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const tokens = Number(arg('tokens', '8192'));
const keystrokes = Number(arg('keystrokes', '12'));
const maxNew = Number(arg('max-new', '16'));
const ep = arg('ep', 'cpu') as ProviderChoice;
const policies = [
  arg('policy', DEFAULT_KV_POLICY),
  ...(process.argv.includes('--compare') ? [arg('compare', 'full')] : []),
];
const budgetText = arg('budget', DEFAULT_KV_BUDGET_TEXT);

const ROOT = join(__dirname, '..');
const modelDir = randomModelDir('30m');

/** Real TypeScript from this repository as the repository block's pieces, until ~`tokens` tokens. */
function repositoryBlock(count: (text: string) => number): {
  stablePrefix: string;
  cacheKey: string;
  pieces: ContextPiece[];
} {
  const pieces: ContextPiece[] = [];
  let total = 0;
  for (const dir of ['engine/context', 'engine/kv', 'engine/completion', 'native/runtime']) {
    for (const f of readdirSync(join(ROOT, dir))
      .filter((n) => n.endsWith('.ts'))
      .sort()) {
      const text = readFileSync(join(ROOT, dir, f), 'utf8');
      const n = count(text);
      if (total + n > tokens) continue;
      pieces.push({
        id: `bench:${dir}/${f}`,
        kind: 'import',
        path: `${dir}/${f}`,
        text,
        reason: 'bench',
        score: 1,
        tokens: n,
        range: { startLine: 0, endLine: 0 },
      });
      total += n;
    }
  }
  const p = assemblePrompt({
    family: 'qwen2.5-coder',
    repoName: 'squeeze',
    pieces,
    path: 'src/app.ts',
    prefix: '',
    suffix: '',
  });
  return { stablePrefix: p.stablePrefix, cacheKey: p.cacheKey, pieces };
}

const FILE =
  'import { RepoIndex } from "../engine/context";\n\nexport function summarize(index: RepoIndex): string {\n  const files = index.paths();\n';
const TYPED = '  const total = files.length;';

function request(
  block: { stablePrefix: string; cacheKey: string; pieces: ContextPiece[] },
  typed: string,
): CompletionRequest {
  const p = assemblePrompt({
    family: 'qwen2.5-coder',
    repoName: 'squeeze',
    pieces: block.pieces,
    path: 'src/app.ts',
    prefix: FILE + typed,
    suffix: '\n}\n',
  });
  return {
    block: { text: p.stablePrefix },
    prompt: { text: p.text.slice(p.stablePrefix.length) },
    blockKey: p.cacheKey,
    cursor: { linePrefix: typed, lineSuffix: '', previousLine: '  const files = index.paths();', nextLines: ['}'] },
  };
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const r0 = (x: number) => Math.round(x);

async function main() {
  const rows: Record<string, string | number>[] = [];
  for (const policy of policies) {
    const service = await loadCompletionService(modelDir, {
      provider: ep,
      config: {
        ...DEFAULT_SERVICE_CONFIG,
        kv: { policy, budget: parseBudgetText(budgetText) },
        maxTokens: maxNew,
        timeCapMs: 60_000,
      },
    });
    const tok = service.model.tokenizer;
    const block = repositoryBlock((t) => tok.encode(t, false).length);
    const cold = await service.complete(request(block, TYPED.slice(0, 4)));
    const warm: CompletionStats[] = [];
    for (let i = 1; i <= keystrokes; i++) {
      const typed = TYPED.slice(0, 4 + Math.round((i * (TYPED.length - 4)) / keystrokes));
      warm.push((await service.complete(request(block, typed))).stats);
    }
    if (warm.some((s) => !s.prefixHit)) throw new Error('a warm request missed the cached block');
    const kv = cold.stats.kv;
    const decodePerToken =
      warm.reduce((n, s) => n + s.decodeMs, 0) /
      Math.max(
        1,
        warm.reduce((n, s) => n + Math.max(0, s.generatedTokens - 1), 0),
      );
    rows.push({
      policy: `${policy}${policy === 'full' ? '' : ` @${budgetText}`}`,
      ep: service.info.provider,
      blockTokens: kv.promptTokens,
      tailTokens: warm[warm.length - 1]!.tailTokens,
      kv: `${formatBytes(kv.bytes)} (fp16 ${formatBytes(kv.fp16Bytes)}, ${kv.ratio.toFixed(2)}×)`,
      held: `${r0(kv.tokens)} tok ${kv.bits}b`,
      coldBuildMs: r0(cold.stats.prefixBuildMs),
      coldFirstCompletionMs: r0(cold.stats.totalMs),
      warmFirstTokenMsP50: r0(
        pct(
          warm.map((s) => s.firstTokenMs),
          0.5,
        ),
      ),
      warmFirstTokenMsP90: r0(
        pct(
          warm.map((s) => s.firstTokenMs),
          0.9,
        ),
      ),
      warmCompletionMsP50: r0(
        pct(
          warm.map((s) => s.totalMs),
          0.5,
        ),
      ),
      warmCompletionMsP90: r0(
        pct(
          warm.map((s) => s.totalMs),
          0.9,
        ),
      ),
      decodeMsPerToken: +decodePerToken.toFixed(1),
      generated: warm[warm.length - 1]!.generatedTokens,
    });
    await service.dispose();
  }
  const spec = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8'));
  console.log(
    `machine: ${cpus().length}x ${cpus()[0]?.model?.trim()}; model: random Qwen2-shaped, ${spec.num_hidden_layers} layers, hidden ${spec.hidden_size}, ${spec.num_attention_heads}/${spec.num_key_value_heads} heads; ${keystrokes} warm keystrokes, ≤${maxNew} new tokens`,
  );
  const keys = Object.keys(rows[0]!);
  console.log('| ' + keys.join(' | ') + ' |');
  console.log('|' + keys.map(() => '---').join('|') + '|');
  for (const r of rows) console.log('| ' + keys.map((k) => r[k]).join(' | ') + ' |');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
