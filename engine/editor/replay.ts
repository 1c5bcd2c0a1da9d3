// Runs a scripted editing session (replay-session.ts) in real time through the editor's own
// pieces: the CompletionFlow (completion cache, debounce, one request at a time), the PromptBuilder
// over a RepoIndex (the same context gatherer), and the CompletionService the engine worker runs
// (serve first, background block builds, the same stop rules). Only VS Code is missing: the
// replay keeps the documents, the cursor and the ghost on screen itself, and tells the builder
// about visits and edits as the extension's workspace context does.
import type { CompletionFlow, FlowOptions, FlowResult } from './completion-flow';
import type { EditorSnapshot, PromptBuilder } from './prompt-builder';
import { type NumberedEvent, ReplaySessionError } from './replay-session';
import type { CompletionSource } from '../completion/service-types';

export interface ReplayDeps {
  flow: CompletionFlow;
  builder: PromptBuilder;
  /** A file's text on disk (relative to the root), or undefined when missing. */
  read(file: string): string | undefined;
  /** The engine's counters now. */
  counters(): { requests: number; prefixBuilds: number };
  /** Segments prefilled and reused by block builds so far. */
  segments(): { prefilled: number; reused: number };
  /** Registers what to do when a repository block finishes building. */
  onBlockReady(listener: () => void): void;
}

export interface ReplayOptions extends Omit<FlowOptions, 'manual' | 'cancelled'> {
  /** Ask again when the repository block is ready (default true; off in the baseline). */
  enrich?: boolean;
  /** Called with each ghost as it shows (progress output). */
  onGhost?: (g: GhostRecord) => void;
}

/** One answered request (an empty text showed no ghost). */
export interface GhostRecord {
  /** ms since the session started. */
  at: number;
  /** From the request going out (after the debounce) to the ghost showing. */
  ms: number;
  source: CompletionSource;
  /** Whether the ghost came from a completion over the repository block. */
  repo: boolean;
  file: string;
  text: string;
  /** Why decoding stopped and how many tokens it made (engine answers only). */
  stop?: string;
  tokens?: number;
}

export interface SwitchRecord {
  file: string;
  /** ms from the open to the first answer (maybe empty). */
  firstAnswerMs: number | null;
  /**
   * Of firstAnswerMs, the engine's part: from that answer's request (fired once typing paused for
   * the debounce) to the answer. The rest is the user typing on without a pause.
   */
  firstAnswerWaitMs: number | null;
  /** ms from the open to the first ghost, and to the first ghost with repository context (null: none). */
  firstGhostMs: number | null;
  firstRepoGhostMs: number | null;
}

export interface ReplaySummary {
  requests: number;
  servedFromCache: number;
  blockBuilds: number;
  segmentsPrefilled: number;
  segmentsReused: number;
  /** From the first open to the first ghost (a non-empty completion), and to the first answer (maybe empty). */
  firstGhostMs: number | null;
  firstAnswerMs: number | null;
  /** Request (after the debounce) to answer, over every answered request. */
  ghostMs: { p50: number; p95: number; max: number };
  /** Answers, and those with text (ghosts shown). */
  answered: number;
  ghostsShown: number;
  /** The share of ghosts shown that had the repository block. */
  withRepoContext: number;
  /** Requests that failed, with their messages. */
  errors: string[];
  /** Keystrokes that typed what the ghost showed, and engine requests they caused (should be 0). */
  typedThrough: { keystrokes: number; requests: number };
  switches: SwitchRecord[];
  events: GhostRecord[];
  durationMs: number;
}

interface Doc {
  file: string;
  lines: string[];
  line: number;
  col: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function replay(events: NumberedEvent[], deps: ReplayDeps, o: ReplayOptions): Promise<ReplaySummary> {
  const texts = new Map<string, string[]>();
  const linesOf = (file: string, lineNo: number) => {
    let lines = texts.get(file);
    if (!lines) {
      const t = deps.read(file);
      if (t === undefined) throw new ReplaySessionError(lineNo, `no file "${file}" under the root`);
      lines = t.split('\n');
      texts.set(file, lines);
    }
    return lines;
  };
  const dirty = new Set<string>();
  let doc: Doc | null = null;
  let ghost = null as { text: string; repo: boolean } | null;
  const ghosts: GhostRecord[] = [];
  const answers: GhostRecord[] = [];
  const switches: SwitchRecord[] = [];
  let currentSwitch: (SwitchRecord & { openedAt: number }) | null = null;
  let firstOpenAt: number | null = null;
  let firstGhostMs: number | null = null;
  let firstAnswerMs: number | null = null;
  let seq = 0;
  const typedThrough = { keystrokes: 0, requests: 0 };
  /** Requests that failed (not aborted): the summary lists them. */
  const errors: string[] = [];
  const pending: Promise<unknown>[] = [];
  const t0 = performance.now();
  const since = () => performance.now() - t0;

  const snapshot = (d: Doc): EditorSnapshot => ({
    path: d.file,
    text: d.lines.join('\n'),
    line: d.line,
    character: d.col,
  });
  /** What the extension's workspace context tells the builder: the visit or edit, unsaved texts. */
  const touch = (file: string, line: number) => {
    deps.builder.touch({ path: file, line });
    for (const r of deps.builder.recentFiles)
      deps.builder.setText(r.path, dirty.has(r.path) ? texts.get(r.path)!.join('\n') : undefined);
  };
  const show = (r: FlowResult | undefined, mine: number, d: Doc) => {
    if (!r || mine !== seq) return; // a newer keystroke made this answer stale
    const at = since();
    const repo = r.source === 'repo' || (r.source === 'cache' && r.fromRepo === true);
    const rec: GhostRecord = {
      at,
      ms: performance.now() - r.firedAt,
      source: r.source,
      repo,
      file: d.file,
      text: r.text,
      ...(r.result && { stop: r.result.stats.stopReason, tokens: r.result.stats.generatedTokens }),
    };
    answers.push(rec);
    o.onGhost?.(rec);
    if (firstAnswerMs === null && firstOpenAt !== null) firstAnswerMs = at - firstOpenAt;
    if (currentSwitch && currentSwitch.file === d.file && currentSwitch.firstAnswerMs === null) {
      currentSwitch.firstAnswerMs = at - currentSwitch.openedAt;
      currentSwitch.firstAnswerWaitMs = rec.ms;
    }
    if (!r.text) return;
    ghost = { text: r.text, repo };
    ghosts.push(rec);
    if (firstGhostMs === null && firstOpenAt !== null) firstGhostMs = at - firstOpenAt;
    if (currentSwitch && currentSwitch.file === d.file) {
      currentSwitch.firstGhostMs ??= at - currentSwitch.openedAt;
      if (repo) currentSwitch.firstRepoGhostMs ??= at - currentSwitch.openedAt;
    }
  };
  /** The editor asks for a completion after every change, as VS Code does. */
  const request = (d: Doc, throughGhost: boolean, refresh = false) => {
    const mine = ++seq;
    ghost = null;
    const before = deps.counters().requests;
    const p = (refresh ? deps.flow.refresh(snapshot(d), o) : deps.flow.run(snapshot(d), { ...o, manual: false }))
      .then((r) => show(r, mine, d))
      .catch((e: unknown) => {
        errors.push(e instanceof Error ? e.message : String(e));
      });
    if (throughGhost) {
      // The cache answers synchronously-fast; count any engine call this keystroke caused.
      pending.push(
        p.then(() => {
          if (deps.counters().requests > before) typedThrough.requests++;
        }),
      );
    } else pending.push(p);
  };
  const insert = (d: Doc, text: string) => {
    const cur = d.lines[d.line]!;
    const parts = (cur.slice(0, d.col) + text + cur.slice(d.col)).split('\n');
    d.lines.splice(d.line, 1, ...parts);
    d.line += parts.length - 1;
    d.col = parts[parts.length - 1]!.length - (cur.length - d.col);
    dirty.add(d.file);
  };

  // Enrich later: a ghost from the current file alone is asked again once the block is ready.
  let done = false;
  deps.onBlockReady(() => {
    const g = ghost as { repo: boolean } | null;
    if (o.enrich !== false && !done && doc && !g?.repo) request(doc, false, true);
  });
  for (const ev of events) {
    await sleep(ev.t - since());
    switch (ev.op) {
      case 'open': {
        // parseSession checked the position (typing since has only added lines).
        const lines = linesOf(ev.file, ev.lineNo);
        doc = { file: ev.file, lines, line: ev.line - 1, col: Math.min(ev.col - 1, lines[ev.line - 1]!.length) };
        firstOpenAt ??= since();
        currentSwitch = {
          file: ev.file,
          firstAnswerMs: null,
          firstAnswerWaitMs: null,
          firstGhostMs: null,
          firstRepoGhostMs: null,
          openedAt: since(),
        };
        switches.push(currentSwitch);
        touch(ev.file, doc.line);
        deps.flow.opened(doc.file, () => doc!.lines.join('\n'));
        request(doc, false);
        break;
      }
      case 'type': {
        const d = doc!;
        if ('ghostChars' in ev) {
          // Typing through: one keystroke per character the ghost shows.
          const g = ghost as { text: string } | null;
          if (!g) break;
          for (const ch of [...g.text].slice(0, ev.ghostChars)) {
            insert(d, ch);
            typedThrough.keystrokes++;
            touch(d.file, d.line);
            request(d, true);
            await pending[pending.length - 1];
          }
          break;
        }
        insert(d, ev.text);
        touch(d.file, d.line);
        request(d, false);
        break;
      }
      case 'accept': {
        const d = doc!;
        const g = ghost as { text: string } | null;
        if (!g) break;
        insert(d, g.text);
        touch(d.file, d.line);
        deps.flow.accepted(snapshot(d), o);
        request(d, false);
        break;
      }
      case 'edit': {
        const lines = linesOf(ev.file, ev.lineNo);
        lines.splice(ev.line - 1, 1, ...ev.text.split('\n'));
        dirty.add(ev.file);
        if (doc?.file === ev.file) doc.line = Math.min(doc.line, lines.length - 1);
        touch(ev.file, ev.line - 1);
        break;
      }
    }
  }
  done = true;
  await Promise.all(pending);
  const engine = deps.counters();
  const seg = deps.segments();
  const times = answers.map((g) => g.ms);
  return {
    requests: engine.requests,
    servedFromCache: deps.flow.servedFromCache,
    blockBuilds: engine.prefixBuilds,
    segmentsPrefilled: seg.prefilled,
    segmentsReused: seg.reused,
    firstGhostMs: firstGhostMs === null ? null : Math.round(firstGhostMs),
    firstAnswerMs: firstAnswerMs === null ? null : Math.round(firstAnswerMs),
    ghostMs: {
      p50: round(percentile(times, 50)),
      p95: round(percentile(times, 95)),
      max: round(Math.max(0, ...times)),
    },
    answered: answers.length,
    ghostsShown: ghosts.length,
    withRepoContext: ghosts.length ? round(ghosts.filter((g) => g.repo).length / ghosts.length, 3) : 0,
    typedThrough,
    errors,
    switches: switches.map(
      ({ file, firstAnswerMs: a, firstAnswerWaitMs: w, firstGhostMs: f, firstRepoGhostMs: r }) => ({
        file,
        firstAnswerMs: a === null ? null : Math.round(a),
        firstAnswerWaitMs: w === null ? null : Math.round(w),
        firstGhostMs: f === null ? null : Math.round(f),
        firstRepoGhostMs: r === null ? null : Math.round(r),
      }),
    ),
    events: answers.map((g) => ({ ...g, at: Math.round(g.at), ms: round(g.ms) })),
    durationMs: Math.round(since()),
  };
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;
