// The memory report's content as HTML with hand-drawn SVG charts: bytes per layer by precision
// tier, and the last requests' latency and tokens kept. Pure string rendering (every value
// escaped), so it is tested without a webview; no inline styles or scripts, so the webview's
// Content-Security-Policy can forbid both (colours come from media/memory-report.css classes).
import { formatBytes } from '../engine/numeric/bytes';
import type {
  CompletionSource,
  CompletionStats,
  LayerBytes,
  MemoryReport,
  RecentCompletion,
  Tier,
} from '../engine/completion/service-types';
import { buildPercent, compactCount, precisionMix, weightsText, type EngineState } from './status-format';

export interface RequestRecord {
  /** Date.now() when the completion arrived. */
  at: number;
  stats: CompletionStats;
  /** Characters of the completion shown. */
  chars: number;
}

const TIERS: Tier[] = ['fp16', 'q8', 'q4', 'q2'];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const num = (x: number) => (Number.isFinite(x) ? +x.toFixed(1) : 0);

/** Stacked horizontal bars: one row per layer, one segment per tier. */
export function layerChart(perLayer: readonly LayerBytes[]): string {
  if (perLayer.length === 0) return '<p class="empty">No layers to show.</p>';
  const rowH = 14,
    gap = 3,
    labelW = 56,
    barW = 420,
    valueW = 90;
  const max = Math.max(1, ...perLayer.map((l) => TIERS.reduce((n, t) => n + l.bytes[t], 0)));
  const h = perLayer.length * (rowH + gap) + 24;
  const rows = perLayer
    .map((l, i) => {
      const y = i * (rowH + gap);
      let x = labelW;
      const segs = TIERS.map((t) => {
        const w = (barW * l.bytes[t]) / max;
        const seg =
          w > 0
            ? `<rect class="tier-${t}" x="${num(x)}" y="${y}" width="${num(w)}" height="${rowH}"><title>layer ${l.layer} ${t}: ${formatBytes(l.bytes[t])}</title></rect>`
            : '';
        x += w;
        return seg;
      }).join('');
      const total = TIERS.reduce((n, t) => n + l.bytes[t], 0);
      return `<text class="label" x="0" y="${y + rowH - 3}">layer ${l.layer}</text>${segs}<text class="value" x="${labelW + barW + 6}" y="${y + rowH - 3}">${escapeHtml(formatBytes(total))}</text>`;
    })
    .join('');
  const legend = TIERS.map(
    (t, i) =>
      `<rect class="tier-${t}" x="${labelW + i * 70}" y="${h - 12}" width="10" height="10"/><text class="label" x="${labelW + i * 70 + 14}" y="${h - 3}">${t}</text>`,
  ).join('');
  return `<svg class="chart layers" role="img" aria-label="KV bytes per layer by precision tier" width="${labelW + barW + valueW}" height="${h}" viewBox="0 0 ${labelW + barW + valueW} ${h}">${rows}${legend}</svg>`;
}

/** Latency bars (context build, current-file prefill, decoding stacked) and a line of tokens kept. */
export function historyChart(history: readonly RequestRecord[]): string {
  if (history.length === 0) return '<p class="empty">No completions yet.</p>';
  const W = 560,
    H = 180,
    left = 44,
    right = 44,
    top = 10,
    bottom = 22;
  const plotW = W - left - right,
    plotH = H - top - bottom;
  const maxMs = Math.max(10, ...history.map((r) => r.stats.totalMs));
  const maxTok = Math.max(1, ...history.map((r) => r.stats.kv.tokens));
  const step = plotW / history.length;
  const barW = Math.max(2, step * 0.7);
  const yMs = (ms: number) => top + plotH - (plotH * ms) / maxMs;
  const bars = history
    .map((r, i) => {
      const x = left + i * step + (step - barW) / 2;
      const s = r.stats;
      const parts: [string, number][] = [
        ['build', s.prefixBuildMs],
        ['prefill', s.tailPrefillMs],
        ['decode', s.decodeMs],
      ];
      let base = 0;
      const segs = parts
        .map(([cls, ms]) => {
          const y1 = yMs(base),
            y2 = yMs(base + ms);
          base += ms;
          return ms > 0
            ? `<rect class="lat-${cls}" x="${num(x)}" y="${num(y2)}" width="${num(barW)}" height="${num(y1 - y2)}"/>`
            : '';
        })
        .join('');
      const tip = `#${i + 1}: ${Math.round(s.totalMs)} ms (build ${Math.round(s.prefixBuildMs)}, prefill ${Math.round(s.tailPrefillMs)}, decode ${Math.round(s.decodeMs)}), ${compactCount(s.kv.tokens)} tokens kept, ${s.reusedTokens ? 'reused' : 'rebuilt'}`;
      return `<g>${segs}<title>${escapeHtml(tip)}</title></g>`;
    })
    .join('');
  const points = history
    .map((r, i) => `${num(left + i * step + step / 2)},${num(top + plotH - (plotH * r.stats.kv.tokens) / maxTok)}`)
    .join(' ');
  const axes =
    `<line class="axis" x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}"/>` +
    `<text class="label" x="2" y="${top + 8}">${Math.round(maxMs)} ms</text><text class="label" x="2" y="${top + plotH}">0</text>` +
    `<text class="label tokens" x="${W - right + 4}" y="${top + 8}">${compactCount(maxTok)} tok</text>` +
    `<text class="label" x="${left}" y="${H - 4}">oldest</text><text class="label" x="${left + plotW - 40}" y="${H - 4}">newest</text>`;
  return (
    `<svg class="chart history" role="img" aria-label="latency and tokens kept of the last completions" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${axes}${bars}<polyline class="tokens-line" points="${points}"/></svg>` +
    '<p class="legend"><span class="key lat-build"></span> context build <span class="key lat-prefill"></span> current-file prefill <span class="key lat-decode"></span> decoding <span class="key tokens-key"></span> tokens kept (right axis)</p>'
  );
}

function stateLine(state: EngineState): string {
  switch (state.kind) {
    case 'ready':
      return `Model <code>${escapeHtml(state.info.dir)}</code> (${escapeHtml(state.info.family ?? 'no FIM format')}) on <b>${escapeHtml(state.info.provider.toUpperCase())}</b>, ${escapeHtml(weightsText(state.info.weights))}, loaded in ${Math.round(state.info.loadMs)} ms.`;
    case 'loading':
      return `Loading <code>${escapeHtml(state.model)}</code>…`;
    case 'no-model':
      return `No model: ${escapeHtml(state.reason)}`;
    case 'error':
      return `Error: ${escapeHtml(state.reason)}`;
    case 'disabled':
      return 'Inline completions are off.';
  }
}

/** The report's body. */
export function renderReport(
  state: EngineState,
  report: MemoryReport | null,
  history: readonly RequestRecord[],
): string {
  const out = [`<h1>Squeeze KV memory</h1><p class="state">${stateLine(state)}</p>`];
  const p = report?.prefix;
  if (p) {
    out.push(
      '<h2>Repository context cache</h2><table class="summary"><tbody>' +
        `<tr><th>held</th><td>${escapeHtml(formatBytes(p.bytes))} of ${escapeHtml(formatBytes(p.budgetBytes))} budget</td></tr>` +
        `<tr><th>fp16 would take</th><td>${escapeHtml(formatBytes(p.fp16Bytes))} (${p.ratio.toFixed(2)}× smaller)</td></tr>` +
        `<tr><th>tokens</th><td>${compactCount(p.tokens)} of ${compactCount(p.promptTokens)} per head, ${escapeHtml(precisionMix(p))}</td></tr>` +
        `<tr><th>method</th><td>${escapeHtml(p.policy)}, ${p.bits}-bit — ${escapeHtml(p.reason)}</td></tr>` +
        `<tr><th>built in</th><td>${Math.round(p.buildMs)} ms</td></tr>` +
        '</tbody></table>' +
        `<h2>Bytes per layer</h2>${layerChart(p.perLayer)}`,
    );
  } else if (!report?.building) {
    out.push('<p class="empty">No repository context is cached yet: it is built on the next completion.</p>');
  }
  const b = report?.building;
  if (b)
    out.push(
      `<p class="state">Building the repository context: ${compactCount(b.doneTokens)} of ${compactCount(b.totalTokens)} tokens (${buildPercent(b)}%). Completions meanwhile use the current file alone.</p>`,
    );
  out.push(`<h2>Last ${history.length} completions</h2>${historyChart(history)}`);
  if (report) {
    const c = report.counters,
      m = report.memory;
    out.push(
      '<h2>Engine</h2><table class="summary"><tbody>' +
        `<tr><th>requests</th><td>${c.requests} (${c.aborted} aborted as stale), context builds ${c.prefixBuilds}, reuses ${c.prefixHits}, current file only ${c.fileOnly}</td></tr>` +
        `<tr><th>current file's tokens</th><td>${compactCount(c.tailTokensReused)} not prefilled again: ${c.tailCheckpointHits} requests started from the tokens before the cursor line, kept from the one before (${c.tailCheckpoints} such states held, ${escapeHtml(formatBytes(c.tailCheckpointBytes))})</td></tr>` +
        `<tr><th>generations at once</th><td>${c.active} now, ${c.maxActive} at most</td></tr>` +
        `<tr><th>weights</th><td>${escapeHtml(weightsText(report.model?.weights ?? null))}</td></tr>` +
        `<tr><th>worker memory</th><td>heap ${escapeHtml(formatBytes(m.heapUsedBytes))}, buffers ${escapeHtml(formatBytes(m.arrayBuffersBytes))}, process RSS ${escapeHtml(formatBytes(m.rssBytes))}</td></tr>` +
        '</tbody></table>',
    );
    if (report.recent.length > 0) out.push(`<h2>Latest completions</h2>${recentTable(report.recent)}`);
  }
  return out.join('\n');
}

const SOURCE_TEXT: Record<CompletionSource, string> = {
  repo: 'with repository context',
  'file-only': 'current file only (context not built yet)',
  cache: 'from the completion cache',
};

/** Which of the latest completions had the repository block. */
function recentTable(recent: readonly RecentCompletion[]): string {
  const rows = recent.map(
    (r) =>
      `<tr><td>${escapeHtml(new Date(r.at).toLocaleTimeString())}</td><td>${escapeHtml(SOURCE_TEXT[r.source])}</td><td>${r.ms} ms</td><td>${compactCount(r.blockTokens)} block tokens</td><td>${r.chars} chars</td></tr>`,
  );
  return `<table class="summary recent"><tbody>${rows.join('')}</tbody></table>`;
}
