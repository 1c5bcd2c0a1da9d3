// `squeeze batch`: loads the model once and completes one case per input JSONL line, writing one
// result line per case. Tooling (evaluations, benchmarks) drives the engine through this.
import { createReadStream, writeFileSync, appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { CliUsageError, formatHelp, commandOptions } from './args';
import type { CliCommand } from './commands';
import { KV_OPTIONS, MODEL_OPTIONS, kvOptionsFrom, loadServiceFromOptions } from './model-options';
import { completionJson } from './output';
import { ProgressBar } from './progress';
import type { CompletionRequest, PromptPart } from '../completion/service-types';

const spec = {
  ...MODEL_OPTIONS,
  ...KV_OPTIONS,
  cases: {
    type: 'string' as const,
    description:
      'input JSONL: {"id", "prompt_ids" | "prompt", optional "block_ids" | "block", optional "max_new_tokens"}',
  },
  out: { type: 'string' as const, description: 'output JSONL: {"id", "ids", "text", "kv", "timings"} per case' },
};
const help = formatHelp('squeeze batch --model DIR --cases IN.jsonl --out OUT.jsonl [options]', spec);

/**
 * One case. With a block, the block's cache is compressed as the editor compresses its repository
 * block, and the prompt is prefilled on top of it uncompressed; without one, the whole prompt is
 * the block, compressed as a long prompt would be.
 */
interface BatchCase {
  id: unknown;
  prompt_ids?: number[];
  prompt?: string;
  block_ids?: number[];
  block?: string;
  max_new_tokens?: number;
}

function checkCase(c: BatchCase, where: string): void {
  if (c.id === undefined) throw new CliUsageError(`${where}: missing "id"`);
  if ((c.prompt_ids === undefined) === (c.prompt === undefined))
    throw new CliUsageError(`${where}: give exactly one of "prompt_ids" or "prompt"`);
  if (c.block_ids !== undefined && c.block !== undefined)
    throw new CliUsageError(`${where}: give at most one of "block_ids" or "block"`);
  for (const k of ['prompt_ids', 'block_ids'] as const) {
    const ids = c[k];
    if (ids !== undefined && !(Array.isArray(ids) && ids.every((x) => Number.isInteger(x) && x >= 0)))
      throw new CliUsageError(`${where}: "${k}" must be an array of non-negative integers`);
  }
  const max = c.max_new_tokens;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1))
    throw new CliUsageError(`${where}: "max_new_tokens" must be a positive integer`);
}

async function readCases(file: string): Promise<BatchCase[]> {
  const cases: BatchCase[] = [];
  let lineNo = 0;
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      lineNo++;
      if (!line.trim()) continue;
      let c: BatchCase;
      try {
        c = JSON.parse(line);
      } catch (e) {
        throw new CliUsageError(`${file}:${lineNo}: not valid JSON (${(e as Error).message})`);
      }
      checkCase(c, `${file}:${lineNo}`);
      cases.push(c);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliUsageError(`--cases ${file}: file not found`);
    throw e;
  }
  return cases;
}

/** The case as a CompletionRequest: text parts are tokenized by the service. */
function requestOf(c: BatchCase, stopAtNewline: boolean): CompletionRequest {
  const prompt: PromptPart = c.prompt_ids ? { ids: c.prompt_ids } : { text: c.prompt! };
  const block: PromptPart | undefined = c.block_ids
    ? { ids: c.block_ids }
    : c.block !== undefined
      ? { text: c.block }
      : undefined;
  return {
    block: block ?? prompt,
    prompt: block ? prompt : { ids: [] },
    stopAtNewline,
    maxTokens: c.max_new_tokens,
    timeCapMs: null,
  };
}

export const batchCommand: CliCommand = {
  summary: 'complete every case of a JSONL file with one loaded model',
  help,
  async run(argv) {
    const opts = commandOptions(argv, spec, help);
    if (!opts) return 0;
    if (typeof opts.cases !== 'string' || typeof opts.out !== 'string')
      throw new CliUsageError('--cases and --out are required');
    const cases = await readCases(opts.cases);
    const service = await loadServiceFromOptions(opts, kvOptionsFrom(opts));
    try {
      const vocab = service.model.spec.vocabSize;
      writeFileSync(opts.out, '');
      const bar = new ProgressBar(cases.length, 'cases');
      for (const c of cases) {
        const bad = [...(c.block_ids ?? []), ...(c.prompt_ids ?? [])].find((i) => i >= vocab);
        if (bad !== undefined)
          throw new CliUsageError(`case ${JSON.stringify(c.id)}: token id ${bad} is outside the vocabulary (${vocab})`);
        const out = await service.complete(requestOf(c, opts['stop-at-newline'] === true));
        appendFileSync(
          opts.out,
          `${JSON.stringify({ id: c.id, ...completionJson(out, service.model.decoder.provider, service.info.weights) })}\n`,
        );
        bar.tick();
      }
      bar.done();
    } finally {
      await service.dispose();
    }
    return 0;
  },
};
