// Status bar wording per engine state, and the memory report's HTML/SVG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statusView, precisionMix, compactCount, type EngineState } from '../../extension/status-format';
import { renderReport, layerChart, historyChart, escapeHtml, type RequestRecord } from '../../extension/report-html';
import type { KvReport, MemoryReport, ModelInfo, CompletionStats } from '../../engine/completion/service-types';
import { DEFAULT_SERVICE_CONFIG } from '../../engine/completion/service-types';

const info: ModelInfo = {
  dir: '/m/qwen',
  family: 'qwen2.5-coder',
  provider: 'cpu',
  skipped: [],
  layers: 2,
  kvHeads: 2,
  headDim: 16,
  maxPositions: 2048,
  loadMs: 120,
  weights: { precision: 'int8', bits: 8, bytes: 3 * 2 ** 20 },
};
const kv: KvReport = {
  policy: 'qpruning',
  bits: 4,
  promptTokens: 2016,
  tokens: 1536,
  tokensByTier: { fp16: 0, q8: 0, q4: 1536, q2: 0 },
  bytes: 129024,
  bytesByTier: { fp16: 0, q8: 0, q4: 129024, q2: 0 },
  budgetBytes: 129024,
  fp16Bytes: 516096,
  ratio: 4,
  prunedFraction: 0.24,
  peakBytes: 516096,
  reason: 'r',
};
const stats = (totalMs: number, reused: boolean): CompletionStats => ({
  promptTokens: 2041,
  prefixTokens: 2016,
  tailTokens: 25,
  reusedTokens: reused ? 2016 : 0,
  recomputedTokens: reused ? 25 : 2041,
  prefixHit: reused,
  prefixBuildMs: reused ? 0 : 400,
  blockPrefillMs: reused ? 0 : 390,
  compressMs: reused ? 0 : 10,
  tailPrefillMs: 7,
  decodeMs: totalMs - 7 - (reused ? 0 : 400),
  decodeMsPerToken: 5,
  firstTokenMs: 9,
  totalMs,
  generatedTokens: 12,
  mode: 'line',
  stopReason: 'newline',
  kv,
  peakKvBytes: 140000,
});

test('ready: KV held vs budget, tokens and precision, ratio, provider; spinner while busy', () => {
  const s: EngineState = { kind: 'ready', info, kv, last: stats(200, true), busy: false };
  const v = statusView(s);
  assert.equal(v.text, '$(sparkle) Squeeze KV 126 KiB / 126 KiB · 1.5k tok q4 · 4.0× · CPU');
  assert.equal(v.command, 'squeeze.showMemoryReport');
  assert.match(v.tooltip, /\| q4 \| 1\.5k \| \d+ KiB \|/);
  assert.match(v.tooltip, /2\.0k tokens reused/);
  assert.match(statusView({ ...s, busy: true }).text, /^\$\(sync~spin\) Squeeze KV/);
  assert.equal(statusView({ kind: 'ready', info, kv: null, last: null, busy: false }).text, '$(sparkle) Squeeze · CPU');
  // While the repository block builds in the background: its progress first.
  const building = { key: 'k', doneTokens: 3400, totalTokens: 8000, startedAt: 0, state: 'building' as const };
  const b = statusView({ kind: 'ready', info, kv: null, last: null, busy: false, building });
  assert.equal(b.text, '$(sync~spin) Squeeze context 42% · CPU');
  assert.match(
    b.tooltip,
    /^Building the repository context: 3\.4k of 8\.0k tokens \(42%\)\. Completions use the current file/,
  );
  assert.match(statusView({ ...s, building }).text, /^\$\(sync~spin\) Squeeze context 42% · KV 126 KiB/);
});

test('no model, loading, error, off', () => {
  const none = statusView({ kind: 'no-model', path: '/x/models/default', reason: 'No default model is installed' });
  assert.equal(none.text, '$(warning) Squeeze: no model');
  assert.equal(none.command, 'squeeze.selectModel');
  assert.equal(none.severity, 'warning');
  assert.match(statusView({ kind: 'loading', model: '/m' }).text, /sync~spin.*loading/);
  const err = statusView({ kind: 'error', reason: 'execution provider "cuda" failed: no libs', model: '/m' });
  assert.equal(err.severity, 'error');
  assert.match(err.tooltip, /cuda.*failed/);
  assert.match(statusView({ kind: 'disabled' }).text, /Squeeze off/);
});

test('precision mix and compact counts', () => {
  assert.equal(precisionMix({ ...kv, tokensByTier: { fp16: 8, q8: 0, q4: 100, q2: 3 } }), 'fp16+q4+q2');
  assert.equal(compactCount(999), '999');
  assert.equal(compactCount(8192), '8.2k');
  assert.equal(compactCount(65536), '66k');
});

test('the report draws per-layer tier bars and the history, escaping everything', () => {
  const chart = layerChart([
    { layer: 0, bytes: { fp16: 100, q8: 0, q4: 300, q2: 0 } },
    { layer: 1, bytes: { fp16: 0, q8: 0, q4: 200, q2: 0 } },
  ]);
  assert.match(chart, /^<svg class="chart layers"/);
  assert.equal((chart.match(/class="tier-q4" x=/g) ?? []).length, 3, 'two layer segments + the legend');
  // The longest layer spans the bar width: fp16 100 then q4 300 of 400 bytes.
  assert.match(chart, /<rect class="tier-fp16" x="56" y="0" width="105"/);
  const history: RequestRecord[] = [
    { at: 1, stats: stats(450, false), chars: 5 },
    { at: 2, stats: stats(60, true), chars: 7 },
  ];
  const h = historyChart(history);
  assert.equal((h.match(/<g>/g) ?? []).length, 2);
  assert.match(h, /class="lat-build"/);
  assert.match(h, /<polyline class="tokens-line" points="[\d., ]+"/);
  const report: MemoryReport = {
    model: info,
    config: DEFAULT_SERVICE_CONFIG,
    prefix: {
      ...kv,
      reason: '<script>alert(1)</script>',
      cacheKey: 'k',
      buildMs: 400,
      perLayer: [{ layer: 0, bytes: kv.bytesByTier }],
    },
    counters: {
      requests: 3,
      aborted: 1,
      prefixBuilds: 1,
      prefixHits: 2,
      fileOnly: 1,
      segmentsReused: 3,
      segmentsPrefilled: 5,
      active: 0,
      maxActive: 1,
      liveKvStates: 2,
      tailCheckpoints: 1,
      tailCheckpointHits: 2,
      tailTokensReused: 1234,
      tailCheckpointBytes: 3 * 2 ** 20,
    },
    memory: { rssBytes: 2 ** 28, heapUsedBytes: 2 ** 24, externalBytes: 0, arrayBuffersBytes: 2 ** 20 },
    building: { key: 'k2', doneTokens: 420, totalTokens: 1000, startedAt: 0, state: 'building' },
    recent: [
      { at: 0, source: 'file-only', ms: 120, blockTokens: 4, chars: 10 },
      { at: 0, source: 'repo', ms: 90, blockTokens: 900, chars: 12 },
    ],
  };
  const html = renderReport({ kind: 'ready', info, kv, last: null, busy: false }, report, history);
  assert.ok(!html.includes('<script>'), 'no markup from data');
  assert.match(html, /&lt;script&gt;/);
  assert.match(html, /4\.00× smaller/);
  assert.match(html, /1 at most/);
  assert.match(html, /1\.2k not prefilled again: 2 requests .* \(1 such states held, 3(\.0+)? MiB\)/);
  assert.match(html, /Building the repository context: 420 of 1(\.0)?k tokens \(42%\)/);
  assert.match(html, /current file only \(context not built yet\).*with repository context/s);
  assert.ok(!/style=/.test(html), 'no inline styles (the CSP forbids them)');
  assert.equal(escapeHtml(`a"b'<>&`), 'a&quot;b&#39;&lt;&gt;&amp;');
  assert.match(renderReport({ kind: 'no-model', path: '/p', reason: 'missing' }, null, []), /No completions yet/);
});
