// The KV budget as users write it, one grammar for the settings and the command line: a share of
// the uncompressed fp16 cache ("25%", or a bare fraction "0.25") or an amount of memory ("512MB",
// "1.5 GB", "64KiB"; binary units, so MB and MiB are both 2^20 bytes).
import type { KvBudget } from './budget';
import { formatBytes } from '../numeric/bytes';

export class BudgetSyntaxError extends Error {
  override name = 'BudgetSyntaxError';
  constructor(
    readonly text: string,
    reason: string,
  ) {
    super(
      `KV budget "${text}" ${reason}: write a percentage of the fp16 cache (e.g. "25%") or an amount of memory (e.g. "512MB", "1.5GB")`,
    );
  }
}

export function parseBudgetText(text: string): KvBudget {
  const t = text.trim();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (pct) {
    const v = Number(pct[1]) / 100;
    if (v <= 0 || v > 1) throw new BudgetSyntaxError(text, 'must be a percentage above 0% and at most 100%');
    return { kind: 'ratio', value: v };
  }
  const mem = /^(\d+(?:\.\d+)?)\s*(k|m|g)i?b$/i.exec(t);
  if (mem) {
    const scale = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[mem[2]!.toLowerCase() as 'k' | 'm' | 'g'];
    const bytes = Math.round(Number(mem[1]) * scale);
    if (bytes <= 0) throw new BudgetSyntaxError(text, 'must be more than 0 bytes');
    return { kind: 'bytes', value: bytes };
  }
  const frac = /^\d*\.\d+$|^1$/.test(t) ? Number(t) : NaN;
  if (frac > 0 && frac <= 1) return { kind: 'ratio', value: frac };
  throw new BudgetSyntaxError(text, 'is not understood');
}

/** The budget back as text, the way the status bar and report show it. */
export function formatBudget(b: KvBudget): string {
  if (b.kind === 'ratio') return `${+(b.value * 100).toFixed(2)}%`;
  return formatBytes(b.value);
}
