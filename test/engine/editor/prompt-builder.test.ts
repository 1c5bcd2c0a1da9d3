// The prompt builder over the fixture workspace's real RepoIndex and the fixture tokenizer: the
// request splits at the repository block, the block stays put while typing, and the cursor
// context matches the text.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RepoIndex } from '../../../engine/context';
import { ModelTokenizer } from '../../../engine/model/tokenizer';
import { PromptBuilder, cursorContextOf } from '../../../engine/editor/prompt-builder';
import { fixtureDir } from '../../helpers/fixtures';
import { WORKSPACE } from '../completion/helpers';

let builder: PromptBuilder;
const main = readFileSync(join(WORKSPACE, 'src/main.ts'), 'utf8');
before(async () => {
  const index = new RepoIndex(WORKSPACE);
  await index.build();
  builder = new PromptBuilder(index, ModelTokenizer.load(fixtureDir('qwen2')), 'qwen2.5-coder');
});

/** main.ts with `typed` inserted on a new line inside main(), and where the cursor ends up. */
function typing(typed: string) {
  const at = main.indexOf('  const start');
  const text = main.slice(0, at) + '  ' + typed + '\n' + main.slice(at);
  const line = main.slice(0, at).split('\n').length - 1;
  return { path: 'src/main.ts', text, line, character: 2 + typed.length };
}

test('the request is the prompt split at the repository block, which holds the imported files', async () => {
  const b = await builder.build(typing('const total = '), 4096);
  const block = (b.request.block as { text: string }).text;
  const tail = (b.request.prompt as { text: string }).text;
  assert.ok(block.startsWith('<|repo_name|>workspace\n'));
  assert.match(block, /<\|file_sep\|>src\/math\.ts\n/);
  assert.match(block, /<\|file_sep\|>src\/shapes\.ts\n/);
  assert.ok(tail.startsWith('<|file_sep|>src/main.ts\n<|fim_prefix|>'));
  assert.ok(tail.endsWith('<|fim_middle|>'));
  assert.match(tail, /  const total = <\|fim_suffix\|>\n  const start/);
  assert.equal(b.request.cursor?.linePrefix, '  const total = ');
  assert.ok(b.pieces >= 2);
});

test('the repository block stays the same while the user types a line', async () => {
  const keys = new Set<string>();
  const typed = 'const total = totalArea(shapes);';
  for (let i = 1; i <= typed.length; i += 3)
    keys.add((await builder.build(typing(typed.slice(0, i)), 4096)).request.blockKey!);
  assert.equal(keys.size, 1, 'one cache key for the whole line');
});

test('cursor context: the line split at the cursor, the line above, the lines below', () => {
  const c = cursorContextOf('function f() {\n\n  \n}\nnext();', 2, 2);
  assert.deepEqual(c, {
    linePrefix: '  ',
    lineSuffix: '',
    previousLine: 'function f() {',
    nextLines: ['}', 'next();'],
  });
});

test('recent files keep their order when their unsaved text is filled in', () => {
  builder.touch({ path: 'a.ts' });
  builder.touch({ path: 'b.ts' });
  builder.setText('a.ts', 'unsaved');
  assert.deepEqual(builder.recentFiles.slice(0, 2), [{ path: 'b.ts' }, { path: 'a.ts', text: 'unsaved' }]);
});
