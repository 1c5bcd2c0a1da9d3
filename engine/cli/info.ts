// `squeeze info`: what this installation can run on (onnxruntime backends, platform), so a user
// can tell at a glance whether a GPU provider is available before loading a model; with --model,
// what a model is (architecture, parameters, tensor types) and the bytes its weights take at each
// precision, read from its headers only.
import { formatHelp, type OptionSpec, commandOptions } from './args';
import type { CliCommand } from './commands';
import { SQUEEZE_VERSION } from '../version';
import { openModelSource } from '../model/source';
import { isQuantized } from '../model/ggml-types';
import { type ResolvedPrecision, weightBytes } from '../model/weight-precision';
import { formatBytes } from '../numeric/bytes';

const spec: Record<string, OptionSpec> = {
  model: { type: 'string', description: 'a model folder or GGUF file to describe' },
  json: { type: 'boolean', description: 'print one JSON object' },
  help: { type: 'boolean', description: 'show this help' },
};
const help = formatHelp('squeeze info [--model DIR|FILE.gguf] [--json]', spec);

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
    const opts = commandOptions(argv, spec, help);
    if (!opts) return 0;
    const info = {
      version: SQUEEZE_VERSION,
      platform: `${process.platform}-${process.arch}`,
      node: process.version,
      backends: listBackends(),
      model: typeof opts.model === 'string' ? describeModel(opts.model) : undefined,
    };
    if (opts.json) {
      console.log(JSON.stringify(info));
      return 0;
    }
    console.log(`squeeze ${info.version} on ${info.platform} (node ${info.node})`);
    for (const b of info.backends)
      console.log(`  ${b.name.padEnd(10)} ${b.bundled ? 'bundled' : 'needs provider libraries'}`);
    const m = info.model;
    if (m) {
      console.log(
        `\n${m.path} (${m.format}): ${m.architecture}, ${(m.parameters / 1e6).toFixed(1)}M parameters, ${m.layers} layers, hidden ${m.hiddenSize}, ${m.qHeads}/${m.kvHeads} heads, vocabulary ${m.vocabSize}`,
      );
      console.log(
        `  tensor types: ${Object.entries(m.tensorTypes)
          .map(([t, n]) => `${t} ×${n}`)
          .join(', ')}`,
      );
      console.log('  weights at each precision (CPU / GPU providers):');
      for (const [p, b] of Object.entries(m.weightBytes))
        console.log(`    ${p.padEnd(7)} ${formatBytes(b.cpu).padStart(10)} / ${formatBytes(b.gpu)}`);
    }
    return 0;
  },
};

/** A model's shape and what its weights take at each precision, from its headers. */
function describeModel(path: string) {
  const source = openModelSource(path);
  const s = source.spec;
  const tensors = [...source.tensors.values()];
  const tensorTypes: Record<string, number> = {};
  for (const t of tensors) tensorTypes[t.type] = (tensorTypes[t.type] ?? 0) + 1;
  const precisions: ResolvedPrecision[] = ['int4', 'int8', 'fp16', 'fp32'];
  if (tensors.some((t) => isQuantized(t.type))) precisions.unshift('native');
  return {
    path,
    format: source.format,
    name: source.name,
    architecture: s.family,
    parameters: tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0),
    layers: s.layers,
    hiddenSize: s.hiddenSize,
    qHeads: s.qHeads,
    kvHeads: s.kvHeads,
    vocabSize: s.vocabSize,
    tensorTypes,
    weightBytes: Object.fromEntries(
      precisions.map((p) => [p, { cpu: weightBytes(tensors, p, false), gpu: weightBytes(tensors, p, true) }]),
    ),
  };
}
