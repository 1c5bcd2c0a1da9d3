// What the status bar says in each engine state: a short text (KV memory held vs budget, tokens
// held and their precision, compression ratio, execution provider) and a Markdown tooltip with the
// details. Pure functions of the state, so they are tested without VS Code.
import { formatBytes } from '../engine/numeric/bytes';
import type { BlockProgress, KvReport, ModelInfo, CompletionStats, Tier } from '../engine/completion/service-types';

export type EngineState =
  | { kind: 'disabled' }
  | { kind: 'no-model'; path: string; reason: string }
  | { kind: 'loading'; model: string }
  | {
      kind: 'ready';
      info: ModelInfo;
      kv: KvReport | null;
      last: CompletionStats | null;
      busy: boolean;
      /** The repository block being built in the background (completions use the current file meanwhile). */
      building?: BlockProgress | null;
    }
  | { kind: 'error'; reason: string; model?: string };

export interface StatusView {
  text: string;
  tooltip: string;
  /** Which command a click runs. */
  command: string;
  severity: 'normal' | 'warning' | 'error';
}

const TIER_ORDER: Tier[] = ['fp16', 'q8', 'q4', 'q2'];

export function compactCount(n: number): string {
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return String(Math.round(n));
}

/** The tiers holding tokens, e.g. "q4" or "fp16+q4". */
export function precisionMix(kv: KvReport): string {
  const held = TIER_ORDER.filter((t) => kv.tokensByTier[t] > 0);
  return held.length ? held.join('+') : 'empty';
}

const ratioText = (r: number) => `${r >= 10 ? Math.round(r) : r.toFixed(1)}×`;
const pct = (part: number, whole: number) => (whole > 0 ? `${Math.round((100 * part) / whole)}%` : '0%');
const escapeMd = (s: string) => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');

export function statusView(state: EngineState): StatusView {
  switch (state.kind) {
    case 'disabled':
      return {
        text: '$(circle-slash) Squeeze off',
        tooltip: '**Squeeze** inline completions are off.\n\nClick to turn them on.',
        command: 'squeeze.toggle',
        severity: 'normal',
      };
    case 'no-model':
      return {
        text: '$(warning) Squeeze: no model',
        tooltip: `**Squeeze: no model**\n\n${escapeMd(state.reason)}\n\nClick to select a model folder (or run **Squeeze: Download Model from Hugging Face…**).`,
        command: 'squeeze.selectModel',
        severity: 'warning',
      };
    case 'loading':
      return {
        text: '$(sync~spin) Squeeze: loading model…',
        tooltip: `**Squeeze** is loading \`${state.model}\`…`,
        command: 'squeeze.showLogs',
        severity: 'normal',
      };
    case 'error':
      return {
        text: '$(error) Squeeze: error',
        tooltip: `**Squeeze failed**${state.model ? ` (model \`${state.model}\`)` : ''}\n\n${escapeMd(state.reason)}\n\nClick to show the logs.`,
        command: 'squeeze.showLogs',
        severity: 'error',
      };
    case 'ready':
      return readyView(state);
  }
}

/** "int4 weights, 290 MiB", or "the file's own 4-bit quantization, 290 MiB" for a quantized GGUF kept as it is. */
export function weightsText(w: ModelInfo['weights']): string {
  if (!w) return 'weights of unknown size';
  const what = w.precision === 'native' ? `the file's own ${w.bits}-bit quantization` : `${w.precision} weights`;
  return `${what}, ${formatBytes(w.bytes)}`;
}

function readyView(state: Extract<EngineState, { kind: 'ready' }>): StatusView {
  const view = cachedView(state);
  const b = state.building;
  if (!b) return view;
  const percent = buildPercent(b);
  return {
    ...view,
    text: `$(sync~spin) Squeeze context ${percent}% · ${view.text.replace(/^\$\([^)]*\) Squeeze (?:· )?/, '')}`,
    tooltip: `Building the repository context: ${compactCount(b.doneTokens)} of ${compactCount(b.totalTokens)} tokens (${percent}%). Completions use the current file alone until it is ready.\n\n${view.tooltip}`,
  };
}

/** A background build's progress, 0–99 (it reads 100 only once ready, when it is no longer shown). */
export function buildPercent(b: BlockProgress): number {
  return b.totalTokens > 0 ? Math.min(99, Math.floor((100 * b.doneTokens) / b.totalTokens)) : 0;
}

function cachedView(state: Extract<EngineState, { kind: 'ready' }>): StatusView {
  const { info, kv, last, busy } = state;
  const icon = busy ? '$(sync~spin)' : '$(sparkle)';
  const provider = info.provider.toUpperCase();
  if (!kv) {
    return {
      text: `${icon} Squeeze · ${provider}`,
      tooltip: `**Squeeze** ready on ${provider}: \`${info.dir}\` (${weightsText(info.weights)})\n\nNo repository context cached yet; it is built on the first completion.\n\nClick for the memory report.`,
      command: 'squeeze.showMemoryReport',
      severity: 'normal',
    };
  }
  const text = `${icon} Squeeze KV ${formatBytes(kv.bytes)} / ${formatBytes(kv.budgetBytes)} · ${compactCount(kv.tokens)} tok ${precisionMix(kv)} · ${ratioText(kv.ratio)} · ${provider}`;
  const tiers = TIER_ORDER.filter((t) => kv.tokensByTier[t] > 0 || kv.bytesByTier[t] > 0)
    .map((t) => `| ${t} | ${compactCount(kv.tokensByTier[t])} | ${formatBytes(kv.bytesByTier[t])} |`)
    .join('\n');
  const lines = [
    `**Squeeze** · ${info.family} on **${provider}** · \`${info.dir}\``,
    '',
    `Model: ${weightsText(info.weights)}.`,
    '',
    `KV cache of the repository context: **${formatBytes(kv.bytes)}** of a **${formatBytes(kv.budgetBytes)}** budget (${pct(kv.bytes, kv.budgetBytes)}); fp16 would take ${formatBytes(kv.fp16Bytes)} → **${ratioText(kv.ratio)}** smaller.`,
    '',
    `Method **${kv.policy}**, ${kv.bits}-bit: ${compactCount(kv.tokens)} of ${compactCount(kv.promptTokens)} tokens held per head.`,
    '',
    '| tier | tokens/head | bytes |',
    '|---|---:|---:|',
    tiers,
  ];
  if (last) {
    lines.push(
      '',
      `Last completion: ${Math.round(last.totalMs)} ms (first token ${Math.round(last.firstTokenMs)} ms), ${last.reusedTokens ? `${compactCount(last.reusedTokens)} tokens reused` : 'context rebuilt'}, ${last.recomputedTokens} computed, ${last.generatedTokens} generated (${last.stopReason}).`,
    );
  }
  lines.push('', 'Click for the memory report.');
  return { text, tooltip: lines.join('\n'), command: 'squeeze.showMemoryReport', severity: 'normal' };
}
