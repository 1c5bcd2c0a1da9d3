// Completion requests over the fixture workspace (test/fixtures/workspace), assembled in the
// Qwen2.5-Coder format the fixture tokenizer knows.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleFileOnly, assemblePrompt, requestParts } from '../../../engine/context/prompt';
import type { ContextPiece } from '../../../engine/context/types';
import type { CompletionRequest } from '../../../engine/completion/service-types';
import { loadModel, type LoadedModel } from '../../../native/runtime/model-loader';
import { KV_DEFAULTS } from '../../../engine/kv/policy';
import { fixtureDir } from '../../helpers/fixtures';

export const WORKSPACE = join(__dirname, '..', '..', 'fixtures', 'workspace');

export const pieceOf = (path: string): ContextPiece => ({
  id: `import:${path}`,
  kind: 'import',
  path,
  text: readFileSync(join(WORKSPACE, path), 'utf8'),
  reason: 'test',
  score: 1,
  tokens: 0,
  range: { startLine: 0, endLine: 0 },
});

/** A request at the end of `prefix` in src/main.ts with the given repository block files. */
export function requestFor(
  prefix: string,
  files: string[] = ['src/math.ts'],
  suffix = '\n',
  o: { serveFirst?: boolean } = {},
): CompletionRequest {
  const input = {
    family: 'qwen2.5-coder' as const,
    repoName: 'workspace',
    pieces: files.map(pieceOf),
    path: 'src/main.ts',
    prefix,
    suffix,
  };
  const p = assemblePrompt(input);
  const lines = prefix.split('\n');
  return {
    ...requestParts(p),
    ...(o.serveFirst ? { fileOnly: requestParts(assembleFileOnly(input)) } : {}),
    cursor: {
      linePrefix: lines[lines.length - 1]!,
      lineSuffix: suffix.split('\n')[0]!,
      previousLine:
        lines
          .slice(0, -1)
          .reverse()
          .find((l) => l.trim()) ?? '',
      nextLines: suffix.split('\n').slice(1),
    },
  };
}

/** The Qwen2 fixture model on the CPU as the service loads models: fp16 cache, 8/4/2-bit tiers. */
export function loadTieredFixture(): Promise<LoadedModel> {
  return loadModel(fixtureDir('qwen2'), {
    provider: 'cpu',
    observationWindow: KV_DEFAULTS.window,
    kvDtype: 'float16',
    quantBits: [8, 4, 2],
    group: KV_DEFAULTS.group,
  });
}
