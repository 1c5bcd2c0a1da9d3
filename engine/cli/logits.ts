// `squeeze logits`: the last prompt position's top-k ids and log-probabilities, as JSON.
import { formatHelp, intOption, commandOptions } from './args';
import type { CliCommand } from './commands';
import { MODEL_OPTIONS, PROMPT_OPTIONS, loadServiceFromOptions, promptIdsFromOptions } from './model-options';
import { prefillBlock } from '../completion/pipeline';
import { topKLogProbs } from '../completion/logprobs';

const { model, ep, threads, help: helpOpt } = MODEL_OPTIONS;
const spec = {
  model: model!,
  ep: ep!,
  threads: threads!,
  'prompt-ids': PROMPT_OPTIONS['prompt-ids']!,
  prompt: PROMPT_OPTIONS.prompt!,
  'top-k': { type: 'string' as const, description: 'how many ids (default 10)' },
  help: helpOpt!,
};
const help = formatHelp('squeeze logits --model DIR --prompt-ids F.json [--top-k K]', spec);

export const logitsCommand: CliCommand = {
  summary: "print the last position's top-k token ids and log-probabilities as JSON",
  help,
  async run(argv) {
    const opts = commandOptions(argv, spec, help);
    if (!opts) return 0;
    const k = intOption(opts, 'top-k', 10, 1, 1 << 20);
    const service = await loadServiceFromOptions(opts, undefined);
    try {
      const { decoder } = service.model;
      const ids = promptIdsFromOptions(opts, service.model);
      const dense = await prefillBlock(decoder, ids);
      decoder.disposeKv(dense.kv);
      const top = topKLogProbs(dense.lastLogits!, k);
      console.log(
        JSON.stringify({ ep: decoder.provider, promptTokens: ids.length, ids: top.ids, logprobs: top.logprobs }),
      );
    } finally {
      await service.dispose();
    }
    return 0;
  },
};
