// `squeeze complete`: one greedy completion of a prompt, with timings.
import { formatHelp, intOption, parseOptions } from './args';
import type { CliCommand } from './commands';
import {
  KV_OPTIONS,
  MODEL_OPTIONS,
  PROMPT_OPTIONS,
  kvOptionsFrom,
  loadModelFromOptions,
  promptIdsFromOptions,
} from './model-options';
import { runCompletion } from '../completion/complete';

const spec = { ...MODEL_OPTIONS, ...KV_OPTIONS, ...PROMPT_OPTIONS };
const help = formatHelp(
  'squeeze complete --model DIR (--prompt TEXT | --prompt-file F | --prompt-ids F.json) [options]',
  spec,
);

export const completeCommand: CliCommand = {
  summary: 'complete a prompt with the model (greedy) and print the continuation',
  help,
  async run(argv) {
    const opts = parseOptions(argv, spec);
    if (opts.help) {
      console.log(help);
      return 0;
    }
    const maxNewTokens = intOption(opts, 'max-new-tokens', 64, 0, 100000);
    const prefillChunk =
      opts['prefill-chunk'] === undefined ? undefined : intOption(opts, 'prefill-chunk', 0, 1, 1 << 20);
    const kv = kvOptionsFrom(opts);
    const model = await loadModelFromOptions(opts);
    const promptIds = promptIdsFromOptions(opts, model);
    const out = await runCompletion(model.decoder, (ids) => model.tokenizer.decode(ids), {
      promptIds,
      maxNewTokens,
      stopAtNewline: opts['stop-at-newline'] === true,
      prefillChunk,
      kv,
    });
    if (opts.json) {
      console.log(
        JSON.stringify({
          ids: out.ids,
          text: out.text,
          promptTokens: out.promptTokens,
          ep: model.decoder.provider,
          stopReason: out.stopReason,
          timings: {
            loadMs: round(model.loadMs),
            prefillMs: round(out.timings.prefillMs),
            compressMs: round(out.timings.compressMs),
            decodeMsPerToken: round(out.timings.decodeMsPerToken),
          },
          kv: out.kv,
          peakRssMB: round(peakRssBytes() / 2 ** 20),
        }),
      );
    } else {
      process.stdout.write(out.text + '\n');
      const tps = out.promptTokens / (out.timings.prefillMs / 1000);
      process.stderr.write(
        `[squeeze] ${model.decoder.provider}: ${out.promptTokens} prompt tokens, prefill ${round(out.timings.prefillMs)} ms (${round(tps)} tok/s), decode ${round(out.timings.decodeMsPerToken)} ms/token, peak RSS ${round(peakRssBytes() / 2 ** 20)} MB\n`,
      );
    }
    await model.decoder.release();
    return 0;
  },
};

export const round = (x: number) => Math.round(x * 100) / 100;

/** The process's peak resident memory so far (the kernel's high-water mark, not a sample). */
export const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;
