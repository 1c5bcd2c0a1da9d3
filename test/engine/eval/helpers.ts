// What the evaluation tests share: a small synthetic package (a helper defined in one file and used
// in another, a repository case's target, and filler files of one-line functions) and the tiny
// fixture model loaded as the evaluation loads models (window 8, every row's logits).
import { loadModel, type LoadedModel } from '../../../native/runtime/model-loader';
import type { SourcePackage } from '../../../engine/eval/sources';
import { fixtureDir } from '../../helpers/fixtures';

export const loadEvalFixture = (): Promise<LoadedModel> =>
  loadModel(fixtureDir('qwen2'), {
    provider: 'cpu',
    observationWindow: 8,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group: 64,
    allLogits: true,
  });

/** The model's tokenizer as the harness's text codec. */
export const codecOf = (model: LoadedModel) => ({
  encode: (t: string, special?: boolean) => model.tokenizer.encode(t, special),
  decode: (ids: number[]) => model.tokenizer.decode(ids),
});

export const FILES = [
  {
    path: 'util.js',
    text: 'export function scaleValue(x, k) {\n  return x * k;\n}\nexport function clampValue(x) {\n  return Math.max(0, Math.min(1, x));\n}\n',
  },
  {
    path: 'main.js',
    text: "import { scaleValue } from './util.js';\n\nexport function run(v) {\n  const y = scaleValue(v, 2);\n  return y;\n}\n",
  },
  ...Array.from({ length: 8 }, (_, f) => ({
    path: `lib/part${f}.js`,
    text:
      Array.from({ length: 6 }, (_, i) => `export function part${f}_${i}(a) {\n  return a + ${i * f};\n}`).join('\n') +
      '\n',
  })),
];

export const PKG: SourcePackage = { name: 'synthetic@0.0.0', root: '/nowhere', files: FILES };
