// Completion requests over the fixture workspace (test/fixtures/workspace), assembled in the
// Qwen2.5-Coder format the fixture tokenizer knows.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assemblePrompt } from '../../../engine/context/prompt';
import type { ContextPiece } from '../../../engine/context/types';
import type { CompletionRequest } from '../../../engine/completion/service-types';

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
export function requestFor(prefix: string, files: string[] = ['src/math.ts'], suffix = '\n'): CompletionRequest {
  const p = assemblePrompt({
    family: 'qwen2.5-coder',
    repoName: 'workspace',
    pieces: files.map(pieceOf),
    path: 'src/main.ts',
    prefix,
    suffix,
  });
  const lines = prefix.split('\n');
  return {
    block: { text: p.stablePrefix },
    prompt: { text: p.text.slice(p.stablePrefix.length) },
    blockKey: p.cacheKey,
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
