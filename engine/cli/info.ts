// `squeeze info`: what this installation can run on (onnxruntime backends, platform), so a user
// can tell at a glance whether a GPU provider is available before loading a model.
import { parseOptions, formatHelp, type OptionSpec } from './args';
import type { CliCommand } from './commands';
import { SQUEEZE_VERSION } from '../version';

const spec: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print one JSON object' },
  help: { type: 'boolean', description: 'show this help' },
};
const help = formatHelp('squeeze info [--json]', spec);

interface BackendInfo {
  name: string;
  bundled: boolean;
}

function listBackends(): BackendInfo[] {
  // The binding lists the execution providers compiled into this onnxruntime build.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding } = require('onnxruntime-node/dist/binding') as {
    binding: { listSupportedBackends(): BackendInfo[] };
  };
  return binding.listSupportedBackends();
}

export const infoCommand: CliCommand = {
  summary: 'show the version, platform and available onnxruntime execution providers',
  help,
  async run(argv) {
    const opts = parseOptions(argv, spec);
    if (opts.help) {
      console.log(help);
      return 0;
    }
    const info = {
      version: SQUEEZE_VERSION,
      platform: `${process.platform}-${process.arch}`,
      node: process.version,
      backends: listBackends(),
    };
    if (opts.json) console.log(JSON.stringify(info));
    else {
      console.log(`squeeze ${info.version} on ${info.platform} (node ${info.node})`);
      for (const b of info.backends)
        console.log(`  ${b.name.padEnd(10)} ${b.bundled ? 'bundled' : 'needs provider libraries'}`);
    }
    return 0;
  },
};
