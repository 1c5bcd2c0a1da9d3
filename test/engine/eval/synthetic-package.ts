// A small synthetic package for the evaluation tests: a helper defined in one file and used in another
// (a repository case's target), and filler files of one-line functions.
import type { SourcePackage } from '../../../engine/eval/sources';

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
