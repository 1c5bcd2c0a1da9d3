// The completion cache on hand-made editor states, then through CompletionFlow over the real
// CompletionService on the fixture model: typing through a ghost and coming back to a place are
// answered without the engine.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompletionCache, splitAtCursor } from '../../../engine/editor/completion-cache';
import { CompletionFlow } from '../../../engine/editor/completion-flow';
import { PromptBuilder, type EditorSnapshot } from '../../../engine/editor/prompt-builder';
import { CompletionService } from '../../../engine/completion/service';
import { AbortedError } from '../../../engine/completion/prefill';
import { RepoIndex } from '../../../engine/context';
import type { KvState } from '../../../native/runtime/kv-state';
import { loadTieredFixture, WORKSPACE } from '../completion/helpers';

/** The document `before` + `after` with the cursor between them. */
function at(before: string, after: string, path = 'a.ts'): EditorSnapshot {
  const lines = before.split('\n');
  return { path, text: before + after, line: lines.length - 1, character: lines.at(-1)!.length };
}

test('splitAtCursor splits at the line and character', () => {
  assert.deepEqual(splitAtCursor(at('ab\ncd', 'ef\ng')), { before: 'ab\ncd', after: 'ef\ng' });
  assert.deepEqual(splitAtCursor({ path: 'x', text: 'ab', line: 0, character: 9 }), { before: 'ab', after: '' });
});

test('the same place, typing through, and what is not a hit', () => {
  const cache = new CompletionCache(2);
  cache.store(at('const x = ', ';\n'), { text: 'compute(1)', alternatives: ['comp(2)', 'other()'], fromRepo: true });
  assert.deepEqual(cache.lookup(at('const x = ', ';\n')), {
    text: 'compute(1)',
    alternatives: ['comp(2)', 'other()'],
    fromRepo: true,
  });
  // Typed "com": the rest of the ghost, and the alternatives that start the same way.
  assert.deepEqual(cache.lookup(at('const x = com', ';\n')), {
    text: 'pute(1)',
    alternatives: ['p(2)'],
    fromRepo: true,
  });
  assert.equal(cache.lookup(at('const x = cx', ';\n')), undefined, 'typed something else');
  assert.equal(cache.lookup(at('const x = compute(1)', ';\n')), undefined, 'the whole ghost typed: nothing left');
  assert.equal(cache.lookup(at('const x = com', ');\n')), undefined, 'the text after the cursor changed');
  assert.equal(cache.lookup(at('let y = 1;\nconst x = com', ';\n')), undefined, 'the text before changed');
  assert.equal(cache.lookup(at('const x = com', ';\n', 'b.ts')), undefined, 'another file');
  // Least recently used goes first.
  cache.store(at('a', ''), { text: 'A', alternatives: [] });
  cache.lookup(at('const x = ', ';\n'));
  cache.store(at('b', ''), { text: 'B', alternatives: [] });
  assert.equal(cache.size, 2);
  assert.equal(cache.lookup(at('a', '')), undefined);
  assert.equal(cache.lookup(at('const x = ', ';\n'))?.text, 'compute(1)');
  cache.store(at('c', ''), { text: '', alternatives: [] });
  assert.equal(cache.lookup(at('c', '')), undefined, 'empty completions are not kept');
});

const models: { decoder: { release(): Promise<void> } }[] = [];
after(async () => {
  for (const m of models) await m.decoder.release();
});

test('typing through a ghost and coming back make no engine request', async () => {
  const model = await loadTieredFixture();
  models.push(model);
  const service = new CompletionService<KvState>(model);
  const index = new RepoIndex(WORKSPACE);
  await index.build();
  const builder = new PromptBuilder(index, model.tokenizer, 'qwen2.5-coder');
  let engineCalls = 0;
  const flow = new CompletionFlow({
    builder: () => builder,
    complete: (req, signal) => {
      engineCalls++;
      return service.complete(req, signal).catch((e) => (e instanceof AbortedError ? undefined : Promise.reject(e)));
    },
  });
  const main = readFileSync(join(WORKSPACE, 'src/main.ts'), 'utf8');
  const cut = main.indexOf('\n', main.indexOf('const start')) + 1;
  const doc = (typed: string) => {
    const d = at(main.slice(0, cut) + '  const ' + typed, main.slice(cut), 'src/main.ts');
    return d;
  };
  const o = { debounceMs: 0, manual: false, budgetTokens: 1500 };
  const first = await flow.run(doc(''), o);
  assert.ok(first && first.text.length >= 2, `a ghost to type through: ${JSON.stringify(first?.text)}`);
  assert.equal(engineCalls, 1);
  const ghost = first.text;
  for (let n = 1; n < ghost.length; n++) {
    const r = await flow.run(doc(ghost.slice(0, n)), o);
    assert.equal(r?.source, 'cache');
    assert.equal(r?.text, ghost.slice(n));
  }
  // Back to the start (undo): the same ghost, still without the engine.
  assert.equal((await flow.run(doc(''), o))?.text, ghost);
  assert.equal(engineCalls, 1);
  assert.equal(flow.servedFromCache, ghost.length);
  // Something else typed: the engine again.
  await flow.run(doc('zz'), o);
  assert.equal(engineCalls, 2);
  await service.dispose();
  models.length = 0;
});
