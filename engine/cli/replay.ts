// `squeeze replay`: a scripted editing session through the editor's own completion path (the
// CompletionFlow with its cache, the PromptBuilder over a RepoIndex, the CompletionService), in
// real time, without VS Code. Prints what a user would have seen and waited for.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliUsageError, formatHelp, intOption, commandOptions } from './args';
import type { CliCommand } from './commands';
import { KV_OPTIONS, MODEL_OPTIONS, kvOptionsFrom, providerOption, weightsOption } from './model-options';
import { loadCompletionService } from '../completion/load-service';
import { AbortedError } from '../completion/prefill';
import { DEFAULT_SERVICE_CONFIG } from '../completion/service-types';
import { RepoIndex } from '../context';
import { CompletionFlow } from '../editor/completion-flow';
import { EDITOR_DEFAULTS, promptBudget } from '../editor/defaults';
import { PromptBuilder } from '../editor/prompt-builder';
import { replay, type ReplaySummary } from '../editor/replay';
import { parseSession, ReplaySessionError } from '../editor/replay-session';
import { shippedModelDir } from './shipped-model';

const spec = {
  root: {
    type: 'string' as const,
    description: 'the repository the session edits (its files are read, never written)',
  },
  session: { type: 'string' as const, description: 'the session: one JSON event per line (see the README)' },
  ...MODEL_OPTIONS,
  model: { type: 'string' as const, description: 'model folder or GGUF file (default: the shipped model)' },
  ...KV_OPTIONS,
  'debounce-ms': {
    type: 'string' as const,
    description: `ms of no typing before a request (default ${EDITOR_DEFAULTS.debounceMs})`,
  },
  'context-tokens': {
    type: 'string' as const,
    description: `prompt tokens, window plus repository block (default ${EDITOR_DEFAULTS.contextMaxTokens})`,
  },
  alternatives: {
    type: 'string' as const,
    description: `completions per request (default ${EDITOR_DEFAULTS.alternatives})`,
  },
  baseline: {
    type: 'boolean' as const,
    description:
      'the editor path before serve-first: requests wait for their repository block, no completion cache, one completion',
  },
};
const help = formatHelp(
  'squeeze replay --root DIR --session S.jsonl [--model DIR] [--kv-policy qpruning --kv-budget 25%] [--json]',
  spec,
);

function readSession(path: string, root: string) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliUsageError(`--session ${path}: ${(e as Error).message}`);
  }
  const read = (file: string) => {
    try {
      return readFileSync(join(root, file), 'utf8');
    } catch {
      return undefined;
    }
  };
  return { events: parseSession(text, read), read };
}

export const replayCommand: CliCommand = {
  summary: "replay a scripted editing session through the editor's completion path",
  help,
  async run(argv) {
    const opts = commandOptions(argv, spec, help);
    if (!opts) return 0;
    if (typeof opts.root !== 'string') throw new CliUsageError('--root DIR is required');
    if (typeof opts.session !== 'string') throw new CliUsageError('--session FILE is required');
    const root = resolve(opts.root);
    if (!statSync(root, { throwIfNoEntry: false })?.isDirectory())
      throw new CliUsageError(`--root ${root} is not a folder`);
    let session;
    try {
      session = readSession(opts.session, root);
    } catch (e) {
      if (e instanceof ReplaySessionError) throw new CliUsageError(`${opts.session}: ${e.message}`);
      throw e;
    }
    const kv = kvOptionsFrom(opts) ?? DEFAULT_SERVICE_CONFIG.kv;
    const maxTokens = intOption(opts, 'max-new-tokens', DEFAULT_SERVICE_CONFIG.maxTokens, 1, 1024);
    const readyListeners: (() => void)[] = [];
    const service = await loadCompletionService(typeof opts.model === 'string' ? opts.model : shippedModelDir(), {
      provider: providerOption(opts),
      threads: opts.threads === undefined ? undefined : intOption(opts, 'threads', 0, 1, 256),
      weights: weightsOption(opts),
      cacheDir: typeof opts['cache-dir'] === 'string' ? opts['cache-dir'] : undefined,
      config: { ...DEFAULT_SERVICE_CONFIG, kv, maxTokens },
      log: (m) => {
        if (process.env.SQUEEZE_VERBOSE) process.stderr.write(`[squeeze] ${m}\n`);
      },
      onProgress: (p) => {
        if (p.state !== 'ready') return;
        for (const l of readyListeners) l();
      },
    });
    let summary: ReplaySummary;
    try {
      const index = new RepoIndex(root);
      await index.build();
      const builder = new PromptBuilder(index, service.model.tokenizer, service.family!);
      const baseline = opts.baseline === true;
      const flow = new CompletionFlow(
        {
          builder: () => builder,
          complete: (req, signal) =>
            service
              .complete(req, signal)
              .catch((e: unknown) => (e instanceof AbortedError ? undefined : Promise.reject(e))),
        },
        { cache: !baseline },
      );
      const budgetTokens = promptBudget(
        intOption(opts, 'context-tokens', EDITOR_DEFAULTS.contextMaxTokens, 256, 131072),
        maxTokens,
        service.model.spec.maxPositions,
      );
      summary = await replay(
        session.events,
        {
          flow,
          builder,
          read: session.read,
          counters: () => service.report().counters,
          segments: () => {
            const c = service.report().counters;
            return { prefilled: c.segmentsPrefilled, reused: c.segmentsReused };
          },
          onBlockReady: (l) => readyListeners.push(l),
        },
        {
          debounceMs: intOption(opts, 'debounce-ms', EDITOR_DEFAULTS.debounceMs, 0, 10000),
          budgetTokens,
          alternatives: baseline ? 1 : intOption(opts, 'alternatives', EDITOR_DEFAULTS.alternatives, 1, 5),
          serveFirst: !baseline,
          enrich: !baseline,
          onGhost: opts.json
            ? undefined
            : (g) =>
                process.stderr.write(
                  `[${g.at} ms] ${g.source} ${Math.round(g.ms)} ms ${JSON.stringify(g.text.slice(0, 60))}\n`,
                ),
        },
      );
    } catch (e) {
      if (e instanceof ReplaySessionError) throw new CliUsageError(`${opts.session}: ${e.message}`);
      throw e;
    } finally {
      await service.dispose();
    }
    if (opts.json) console.log(JSON.stringify(summary));
    else {
      const { events: _events, switches: _switches, ...short } = summary;
      console.log(JSON.stringify(short, null, 2));
    }
    return 0;
  },
};
