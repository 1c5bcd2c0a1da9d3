// `squeeze batch`: loads the model once and completes one case per input JSONL line, writing one
// result line per case. Tooling (evaluations, benchmarks) drives the engine through this.
import { createReadStream, writeFileSync, appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { CliUsageError, formatHelp, intOption, parseOptions } from './args';
import type { CliCommand } from './commands';
import { KV_OPTIONS, MODEL_OPTIONS, checkIds, kvOptionsFrom, loadModelFromOptions } from './model-options';
import { runCompletion } from '../completion/complete';
import { round } from './complete';
import { ProgressBar } from './progress';

const spec = {
  ...MODEL_OPTIONS,
  ...KV_OPTIONS,
  cases: {
    type: 'string' as const,
    description: 'input JSONL: {"id", "prompt_ids": [...]} or {"id", "prompt": "..."}, optional "max_new_tokens"',
  },
  out: { type: 'string' as const, description: 'output JSONL: {"id", "ids", "text", "kv", "timings"} per case' },
};
const help = formatHelp('squeeze batch --model DIR --cases IN.jsonl --out OUT.jsonl [options]', spec);

interface BatchCase {
  id: unknown;
  prompt_ids?: number[];
  prompt?: string;
  max_new_tokens?: number;
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
      if (c.id === undefined) throw new CliUsageError(`${file}:${lineNo}: missing "id"`);
      if ((c.prompt_ids === undefined) === (c.prompt === undefined))
        throw new CliUsageError(`${file}:${lineNo}: give exactly one of "prompt_ids" or "prompt"`);
      cases.push(c);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliUsageError(`--cases ${file}: file not found`);
    throw e;
  }
  return cases;
}

export const batchCommand: CliCommand = {
  summary: 'complete every case of a JSONL file with one loaded model',
  help,
  async run(argv) {
    const opts = parseOptions(argv, spec);
    if (opts.help) {
      console.log(help);
      return 0;
    }
    if (typeof opts.cases !== 'string' || typeof opts.out !== 'string')
      throw new CliUsageError('--cases and --out are required');
    const defaultMax = intOption(opts, 'max-new-tokens', 64, 0, 100000);
    const prefillChunk =
      opts['prefill-chunk'] === undefined ? undefined : intOption(opts, 'prefill-chunk', 0, 1, 1 << 20);
    const cases = await readCases(opts.cases);
    const kv = kvOptionsFrom(opts);
    const model = await loadModelFromOptions(opts);
    writeFileSync(opts.out, '');
    const bar = new ProgressBar(cases.length, 'cases');
    for (const c of cases) {
      const promptIds = c.prompt_ids ?? model.tokenizer.encode(c.prompt!);
      checkIds(promptIds, model);
      const out = await runCompletion(model.decoder, (ids) => model.tokenizer.decode(ids), {
        promptIds,
        maxNewTokens: c.max_new_tokens ?? defaultMax,
        stopAtNewline: opts['stop-at-newline'] === true,
        prefillChunk,
        kv,
      });
      appendFileSync(
        opts.out,
        JSON.stringify({
          id: c.id,
          ids: out.ids,
          text: out.text,
          promptTokens: out.promptTokens,
          ep: model.decoder.provider,
          kv: out.kv,
          timings: {
            prefillMs: round(out.timings.prefillMs),
            compressMs: round(out.timings.compressMs),
            decodeMsPerToken: round(out.timings.decodeMsPerToken),
          },
        }) + '\n',
      );
      bar.tick();
    }
    bar.done();
    await model.decoder.release();
    return 0;
  },
};
