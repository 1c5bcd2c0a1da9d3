// `squeeze complete`: one greedy completion of a prompt, with timings.
import { formatHelp, commandOptions } from './args';
import type { CliCommand } from './commands';
import {
  KV_OPTIONS,
  MODEL_OPTIONS,
  PROMPT_OPTIONS,
  kvOptionsFrom,
  loadServiceFromOptions,
  promptIdsFromOptions,
} from './model-options';
import { completionJson, peakRssBytes, round } from './output';

const spec = { ...MODEL_OPTIONS, ...KV_OPTIONS, ...PROMPT_OPTIONS };
const help = formatHelp(
  'squeeze complete --model DIR (--prompt TEXT | --prompt-file F | --prompt-ids F.json) [options]',
  spec,
);

export const completeCommand: CliCommand = {
  summary: 'complete a prompt with the model (greedy) and print the continuation',
  help,
  async run(argv) {
    const opts = commandOptions(argv, spec, help);
    if (!opts) return 0;
    const service = await loadServiceFromOptions(opts, kvOptionsFrom(opts));
    try {
      const ids = promptIdsFromOptions(opts, service.model);
      // The whole prompt is the block: compressed as a long prompt's cache would be.
      const out = await service.complete({
        block: { ids },
        prompt: { ids: [] },
        stopAtNewline: opts['stop-at-newline'] === true,
        timeCapMs: null,
      });
      const ep = service.model.decoder.provider;
      const json = completionJson(out, ep, service.info.weights);
      if (opts.json) {
        const timings = { loadMs: round(service.model.loadMs), ...json.timings };
        console.log(JSON.stringify({ ...json, timings, peakRssMB: round(peakRssBytes() / 2 ** 20) }));
      } else {
        process.stdout.write(`${out.text}\n`);
        const tps = json.promptTokens / (json.timings.prefillMs / 1000);
        process.stderr.write(
          `[squeeze] ${ep}: ${json.promptTokens} prompt tokens, prefill ${json.timings.prefillMs} ms (${round(tps)} tok/s), decode ${json.timings.decodeMsPerToken} ms/token, peak RSS ${round(peakRssBytes() / 2 ** 20)} MB\n`,
        );
      }
    } finally {
      await service.dispose();
    }
    return 0;
  },
};
