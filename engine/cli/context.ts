// `squeeze context`: index a repository, gather context for a cursor position and print the
// assembled prompt, or with --json the chosen pieces (reasons, token counts) and the cache key.
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { CliUsageError, formatHelp, intOption, type OptionSpec, commandOptions } from './args';
import type { CliCommand } from './commands';
import {
  approxTokenCounter,
  buildCompletionPrompt,
  ContextGatherer,
  RepoIndex,
  type ContextLogger,
  type TokenCounter,
} from '../context';
import { MODEL_FAMILIES, type ModelFamily } from '../model/families';
import { ModelTokenizer } from '../model/tokenizer';

const spec: Record<string, OptionSpec> = {
  root: { type: 'string', description: 'repository root to index (required)' },
  file: { type: 'string', description: 'current file, relative to --root (required)' },
  line: { type: 'string', description: 'cursor line, 1-based (required)' },
  col: { type: 'string', description: 'cursor column, 1-based (required)' },
  budget: { type: 'string', description: 'prompt budget in tokens (default 8192)' },
  tokenizer: {
    type: 'string',
    description: 'folder with tokenizer.json (+ tokenizer_config.json); default: ~3.5 chars/token',
  },
  family: { type: 'string', description: `prompt format: ${MODEL_FAMILIES.join(', ')} (default qwen2.5-coder)` },
  recent: {
    type: 'string',
    description: 'comma-separated recently edited files, relative to --root, most recent first',
  },
  json: { type: 'boolean', description: 'print the pieces, reasons, token counts and cache key as JSON' },
  verbose: { type: 'boolean', description: 'log every skipped file to stderr' },
  help: { type: 'boolean', description: 'show this help' },
};
const help = formatHelp(
  'squeeze context --root DIR --file F --line L --col C [--budget TOKENS] [--tokenizer DIR] [--family F] [--json]',
  spec,
);

export const contextCommand: CliCommand = {
  summary: 'show the repository context and prompt gathered for a cursor position',
  help,
  async run(argv) {
    const opts = commandOptions(argv, spec, help);
    if (!opts) return 0;
    for (const name of ['root', 'file', 'line', 'col'])
      if (typeof opts[name] !== 'string') throw new CliUsageError(`--${name} is required`);
    const root = resolve(opts.root as string);
    const file = (isAbsolute(opts.file as string) ? relative(root, opts.file as string) : (opts.file as string))
      .split('\\')
      .join('/');
    const line = intOption(opts, 'line', 1, 1);
    const col = intOption(opts, 'col', 1, 1);
    const budget = intOption(opts, 'budget', 8192, 64, 1 << 20);
    const family = (opts.family ?? 'qwen2.5-coder') as ModelFamily;
    if (!MODEL_FAMILIES.includes(family))
      throw new CliUsageError(`--family must be one of ${MODEL_FAMILIES.join(', ')}`);
    const tokens: TokenCounter =
      typeof opts.tokenizer === 'string' ? ModelTokenizer.load(resolve(opts.tokenizer)) : approxTokenCounter;
    const text = readFileSync(resolve(root, file), 'utf8');

    const logger: ContextLogger = {
      info: (m) => {
        if (opts.verbose) console.error(`[context] ${m}`);
      },
      warn: (m) => console.error(`[context] ${m}`),
    };
    const index = new RepoIndex(root, { logger });
    const indexStats = await index.build({ parse: true });
    const gatherer = new ContextGatherer(index, tokens);
    const recentFiles =
      typeof opts.recent === 'string'
        ? opts.recent
            .split(',')
            .filter(Boolean)
            .map((path) => ({ path }))
        : [];
    const t0 = performance.now();
    const result = await buildCompletionPrompt(gatherer, {
      family,
      path: file,
      text,
      position: { line: line - 1, character: col - 1 },
      budgetTokens: budget,
      recentFiles,
    });
    const assembleMs = performance.now() - t0;

    if (!opts.json) {
      process.stdout.write(result.prompt.text + '\n');
      return 0;
    }
    console.log(
      JSON.stringify(
        {
          root,
          file,
          line,
          col,
          family,
          tokenCounter: typeof opts.tokenizer === 'string' ? resolve(opts.tokenizer) : 'approx (3.5 chars/token)',
          cacheKey: result.prompt.cacheKey,
          budget: result.budget,
          promptTokens: tokens.count(result.prompt.text),
          stablePrefixTokens: tokens.count(result.prompt.stablePrefix),
          window: {
            prefixTokens: result.window.prefixTokens,
            suffixTokens: result.window.suffixTokens,
            prefixStartLine: result.window.prefixStartLine + 1,
            scopeHeads: result.window.scopeHeads,
          },
          pieces: result.pieces.map((p) => ({
            id: p.id,
            kind: p.kind,
            path: p.path,
            lines: [p.range.startLine + 1, p.range.endLine + 1],
            tokens: p.tokens,
            score: p.score,
            reason: p.reason,
          })),
          index: {
            files: indexStats.files,
            chars: indexStats.chars,
            parsed: indexStats.parsed,
            skipped: indexStats.skipped,
            buildMs: Math.round(indexStats.walkMs + indexStats.parseMs),
          },
          assembleMs: Math.round(assembleMs * 10) / 10,
        },
        null,
        2,
      ),
    );
    return 0;
  },
};
