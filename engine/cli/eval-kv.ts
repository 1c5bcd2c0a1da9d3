// npm run eval:kv (tsx engine/cli/eval-kv.ts): every KV policy at several budgets against the full cache, on
// repository-level completion cases from real packages and on code-needle retrieval cases, with one
// dense prefill per case. Writes a markdown report (policy × budget table, per-case table, the papers'
// claims checked). Model-agnostic: point --model at any supported model folder.
import { writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { cpus, platform, release, totalmem } from 'node:os';
import { CliUsageError, formatHelp, intOption, type OptionSpec, commandOptions } from './args';
import type { CliCommand } from './commands';
import { KV_OPTIONS, MODEL_OPTIONS, providerOption } from './model-options';
import { ProgressBar } from './progress';
import { loadModel } from '../../native/runtime/model-loader';
import { loadWeightIndex } from '../model/safetensors';
import { KV_DEFAULTS } from '../kv/policy';
import { DEFAULT_PACKAGE_ROOTS, loadSourcePackage, repoFormatFor, type SourcePackage } from '../eval/sources';
import { buildRepoCases } from '../eval/repo-cases';
import { buildNeedleCases } from '../eval/needle-cases';
import { DEFAULT_BUDGETS, DEFAULT_POLICIES, buildSettings, budgetLabel } from '../eval/settings';
import { evaluateCase, type CaseResult } from '../eval/harness';
import { evaluateBlockCase } from '../eval/block-harness';
import { BLOCK_SCORINGS, isBlockScoring } from '../completion/block-scoring';
import { aggregate, casesTable, claimChecks, markdownTable } from '../eval/report';
import type { EvalCase } from '../eval/types';

const spec: Record<string, OptionSpec> = {
  model: MODEL_OPTIONS.model!,
  cases: { type: 'string', description: 'repository completion cases (default 3)' },
  needles: { type: 'string', description: 'needle cases (default: as many as --cases)' },
  tokens: { type: 'string', description: 'prompt length in tokens (default 4096)' },
  steps: { type: 'string', description: 'teacher-forced steps compared per case (default 16)' },
  'out-tokens': { type: 'string', description: 'most tokens of the greedy line / needle output (default 24)' },
  policies: {
    type: 'string',
    description: `comma-separated policies, name[:key=value;...] (default ${DEFAULT_POLICIES.join(',')})`,
  },
  budgets: {
    type: 'string',
    description: `comma-separated fractions of the fp16 cache (default ${DEFAULT_BUDGETS.join(',')})`,
  },
  packages: {
    type: 'string',
    description: 'comma-separated source folders of multi-file packages (default: some under node_modules)',
  },
  depths: {
    type: 'string',
    description:
      'needle depths as fractions (default: evenly spaced over 0…1 for ≤ 5 needles, else 0,0.25,0.5,0.75,1 cycled)',
  },
  seed: { type: 'string', description: 'case selection seed (default 1)' },
  out: { type: 'string', description: 'write the markdown report here (it is always printed)' },
  json: { type: 'string', description: 'write every per-case, per-setting result as JSON here' },
  note: { type: 'string', description: 'a line added under the report title (e.g. "random weights")' },
  ep: { type: 'string', description: 'execution provider: auto|cpu|webgpu|cuda|dml (default cpu)' },
  threads: MODEL_OPTIONS.threads!,
  'prefill-chunk': MODEL_OPTIONS['prefill-chunk']!,
  'kv-group': KV_OPTIONS['kv-group']!,
  'kv-window': KV_OPTIONS['kv-window']!,
  'teacher-forcing': {
    type: 'string',
    description:
      "auto|batch|step: all tokens in one forward (needs every row's logits) or one per token (default auto: batch when the vocabulary ≤ 65536)",
  },
  'compress-on': {
    type: 'string',
    description: 'device|host: decoder.compress (default) or the host KvStore reference path',
  },
  'segment-tokens': {
    type: 'string',
    description:
      'build each compressed block in segments of this many tokens, as under --kv-max-mb (engine/completion/fixed-memory.ts), instead of compressing one dense prefill',
  },
  path: {
    type: 'string',
    description:
      'prompt|block: compress the whole prompt (default), or, as the editor does, the repository block alone with the current file prefilled over it uncompressed',
  },
  scoring: {
    type: 'string',
    description: `with --path block, what scores the block's tokens: ${BLOCK_SCORINGS.join('|')} (default tail; engine/completion/block-scoring.ts)`,
  },
  help: { type: 'boolean', description: 'show this help' },
};
const help = formatHelp(
  'npm run eval:kv -- --model DIR [--cases 3] [--tokens 4096] [--steps 16] [--policies ...] [--budgets 0.5,0.25,0.125,0.0625] [--out results.md]',
  spec,
);

/** Policy specs are comma-separated; their own options use ';' (`dbudget:threshold=0.01;ranking=position`). */
export function splitPolicies(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => s.replace(/;/g, ','));
}

/** Needle depths: evenly spaced over [0, 1] for up to 5 needles (one needle: the middle), else quarters cycled. */
export function defaultDepths(n: number): number[] {
  if (n <= 1) return [0.5];
  if (n <= 5) return Array.from({ length: n }, (_, i) => i / (n - 1));
  return [0, 0.25, 0.5, 0.75, 1];
}

function numberList(text: string, what: string): number[] {
  const xs = text.split(',').map((s) => Number(s.trim()));
  if (xs.some((x) => !Number.isFinite(x)))
    throw new CliUsageError(`--${what} must be comma-separated numbers, got "${text}"`);
  return xs;
}

function parameterCount(dir: string): number {
  let n = 0;
  for (const t of loadWeightIndex(dir).values()) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

export const evalKvCommand: CliCommand = {
  summary: 'evaluate KV policies × budgets against the full cache (agreement, KL, EM, needle, bytes)',
  help,
  async run(argv) {
    const opts = commandOptions(argv, spec, help);
    if (!opts) return 0;
    if (typeof opts.model !== 'string') throw new CliUsageError('--model DIR is required');
    const nRepo = intOption(opts, 'cases', 3, 0, 10000);
    const nNeedle = intOption(opts, 'needles', nRepo, 0, 10000);
    const tokens = intOption(opts, 'tokens', 4096, 64, 1 << 20);
    const steps = intOption(opts, 'steps', 16, 1, 4096);
    const outTokens = intOption(opts, 'out-tokens', 24, 1, 4096);
    const path = opts.path ?? 'prompt';
    if (path !== 'prompt' && path !== 'block') throw new CliUsageError(`--path must be prompt or block, got "${path}"`);
    const scoring = opts.scoring ?? 'tail';
    if (!isBlockScoring(scoring))
      throw new CliUsageError(`--scoring must be one of ${BLOCK_SCORINGS.join(', ')}, got "${scoring}"`);
    if (opts.scoring !== undefined && path !== 'block') throw new CliUsageError('--scoring needs --path block');
    const seed = intOption(opts, 'seed', 1, 0, 2 ** 31);
    const group = intOption(opts, 'kv-group', KV_DEFAULTS.group, 4, 1024);
    const window = intOption(opts, 'kv-window', KV_DEFAULTS.window, 1, 1024);
    const prefillChunk = intOption(opts, 'prefill-chunk', 512, 1, 1 << 20);
    const tf = (opts['teacher-forcing'] as string | undefined) ?? 'auto';
    if (!['auto', 'batch', 'step'].includes(tf))
      throw new CliUsageError(`--teacher-forcing must be auto, batch or step, got "${tf}"`);
    const compressOn = (opts['compress-on'] as string | undefined) ?? 'device';
    if (compressOn !== 'device' && compressOn !== 'host')
      throw new CliUsageError(`--compress-on must be device or host, got "${compressOn}"`);
    const segmentTokens =
      opts['segment-tokens'] === undefined ? undefined : intOption(opts, 'segment-tokens', 0, 64, 1 << 20);
    const policies = opts.policies ? splitPolicies(opts.policies as string) : DEFAULT_POLICIES;
    const budgets = opts.budgets ? numberList(opts.budgets as string, 'budgets') : DEFAULT_BUDGETS;
    const depths = opts.depths ? numberList(opts.depths as string, 'depths') : defaultDepths(nNeedle);
    if (depths.some((d) => !(d >= 0 && d <= 1))) throw new CliUsageError('--depths must be fractions in [0, 1]');
    let settings;
    try {
      settings = buildSettings(policies, budgets);
    } catch (e) {
      throw new CliUsageError((e as Error).message);
    }

    const t0 = performance.now();
    const dir = resolve(opts.model);
    const ep = opts.ep === undefined ? 'cpu' : providerOption(opts);
    const { loadModelConfig } = await import('../model/config');
    const preSpec = loadModelConfig(dir);
    const batch = tf === 'batch' || (tf === 'auto' && preSpec.vocabSize <= 65536);
    if (path === 'block' && !batch)
      throw new CliUsageError('--path block needs batch teacher forcing (--teacher-forcing batch)');
    const model = await loadModel(dir, {
      provider: ep,
      observationWindow: window,
      kvDtype: 'float16',
      quantBits: [8, 4, 2],
      group,
      allLogits: batch,
      threads: opts.threads === undefined ? undefined : intOption(opts, 'threads', 0, 1, 256),
    });
    const count = (t: string) => model.tokenizer.count(t);
    const format = repoFormatFor((t) => model.tokenizer.tokenId(t));

    // Cases.
    const roots = opts.packages
      ? (opts.packages as string)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : DEFAULT_PACKAGE_ROOTS;
    const pkgs: SourcePackage[] = [];
    for (const r of roots) {
      try {
        pkgs.push(loadSourcePackage(r));
      } catch (e) {
        if (opts.packages) throw new CliUsageError((e as Error).message);
      }
    }
    if (pkgs.length === 0 && nRepo + nNeedle > 0)
      throw new CliUsageError(`no source packages found (${roots.join(', ')}); pass --packages DIR,...`);
    const cases: EvalCase[] = [...buildRepoCases(pkgs, nRepo, { tokens, count, format, seed })];
    if (nRepo > 0 && cases.length < nRepo)
      process.stderr.write(
        `eval-kv: only ${cases.length} repository cases could be built from ${pkgs.map((p) => p.name).join(', ')}\n`,
      );
    if (nNeedle > 0) {
      const filler = pkgs.flatMap((p) =>
        p.files.map((f) => ({ path: `${p.name.replace(/@[^@/]*$/, '')}/${f.path}`, text: f.text })),
      );
      cases.push(...buildNeedleCases(filler, 'needle-haystack', nNeedle, { tokens, count, format, seed }, depths));
    }
    if (cases.length === 0) throw new CliUsageError('no cases to run (--cases 0 --needles 0?)');

    // Run.
    const bar = new ProgressBar(cases.length * (settings.length + 1), 'runs');
    const results: CaseResult[] = [];
    // Block segments after the first are encoded without the tokenizer's leading specials, as the service does.
    const codec = {
      encode: (t: string, special?: boolean) => model.tokenizer.encode(t, special),
      decode: (ids: number[]) => model.tokenizer.decode(ids),
    };
    const harness = {
      steps,
      outTokens,
      prefillChunk,
      teacherForcing: batch ? ('auto' as const) : ('step' as const),
      compressOn: compressOn as 'device' | 'host',
      segmentTokens,
      onProgress: () => bar.tick(),
    };
    for (const c of cases) {
      results.push(
        path === 'block'
          ? await evaluateBlockCase(model.decoder, codec, c, settings, { ...harness, scoring, format })
          : await evaluateCase(model.decoder, codec, c, settings, harness),
      );
    }
    bar.done();
    await model.decoder.release();
    const wallS = (performance.now() - t0) / 1000;

    // Report.
    const s = model.spec;
    const params = parameterCount(dir);
    const promptLens = results.map((r) => r.promptTokens);
    const cpu = cpus();
    const lines = [
      `## KV cache evaluation: ${basename(dir)}`,
      '',
      ...(opts.note ? [`> ${opts.note}`, ''] : []),
      `- model: \`${dir}\` — ${s.family}, ${(params / 1e6).toFixed(1)}M parameters, ${s.layers} layers, ${s.qHeads}/${s.kvHeads} query/KV heads, head dim ${s.headDim}, vocabulary ${s.vocabSize}`,
      `- machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${platform()} ${release()}, Node ${process.version}; execution provider ${model.decoder.provider}`,
      `- cases: ${results.filter((r) => r.kind === 'repo').length} repository completions (${[...new Set(cases.filter((c) => c.kind === 'repo').map((c) => String(c.meta.package)))].join(', ') || 'none'}; format ${format.name}) + ${results.filter((r) => r.kind === 'needle').length} needles; prompts ${Math.min(...promptLens)}–${Math.max(...promptLens)} tokens (asked ${tokens}); seed ${seed}`,
      path === 'block'
        ? `- path: **block** (the editor's): the repository block is prefilled and compressed alone, scored by \`${scoring}\`; the current file is prefilled over it uncompressed; agreement counts the predictions of the first ${steps} generated tokens`
        : '- path: **prompt**: the whole prompt is prefilled and compressed, the window next to the cursor',
      `- per case: one dense prefill (chunk ${prefillChunk}), W=${window}, G=${group}; ${steps} teacher-forced steps after the first generated token (${results[0]?.teacherForcing ?? '–'} mode), greedy output up to ${outTokens} tokens; plans applied on the ${compressOn}${segmentTokens ? `; blocks built in segments of ${segmentTokens} tokens (fixed-memory prefill)` : ''}`,
      `- budgets: ${budgets.map(budgetLabel).join(', ')} of the prompt's fp16 cache; wall time ${wallS.toFixed(0)} s`,
      '',
      markdownTable(aggregate(settings, results)),
      '',
      "agree % = top-1 of the compressed cache equals the full cache's, pooled over all teacher-forced steps of all cases (95% CI: bootstrap over cases); " +
        'mean KL = KL(full ‖ compressed) in nats per step; EM = first generated line equals the target line (repository cases); ' +
        "= full = greedy output (line or needle) identical to the full cache's; needle = output starts with the 8 hex digits; " +
        'KV bytes = bytes of the cache tensors held after compression (scales and residuals included), of fp16 = that over the uncompressed fp16 cache; ' +
        'pruned % = evicted (layer, KV head, token) slots.',
      '',
      '### Claims',
      '',
      ...claimChecks(aggregate(settings, results), results),
      '',
      '### Cases',
      '',
      casesTable(results),
      '',
    ];
    const report = lines.join('\n');
    console.log(report);
    if (typeof opts.out === 'string') writeFileSync(opts.out, report);
    if (typeof opts.json === 'string')
      writeFileSync(opts.json, JSON.stringify({ model: dir, settings, cases: results }, null, 1));
    return 0;
  },
};

if (require.main === module) {
  evalKvCommand.run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (err instanceof CliUsageError) console.error(`eval-kv: ${err.message}\n\n${help}`);
      else console.error(`eval-kv: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = err instanceof CliUsageError ? 2 : 1;
    },
  );
}
