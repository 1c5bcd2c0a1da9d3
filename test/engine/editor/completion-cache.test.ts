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

/**
 * A CompletionFlow over the real CompletionService on the fixture model and the workspace's
 * index; `calls.engine` counts engine requests and `calls.onEngine` runs as each one starts.
 */
async function flowOnFixture() {
  const model = await loadTieredFixture();
  models.push(model);
  const service = new CompletionService<KvState>(model);
  const index = new RepoIndex(WORKSPACE);
  await index.build();
  const builder = new PromptBuilder(index, model.tokenizer, 'qwen2.5-coder');
  /** `delayMs`: how long each engine call waits (abortably) before the service runs it, as a slow model would take. */
  const calls = { engine: 0, onEngine: () => {}, delayMs: 0 };
  const flow = new CompletionFlow({
    builder: () => builder,
    complete: async (req, signal) => {
      calls.engine++;
      calls.onEngine();
      if (calls.delayMs > 0)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, calls.delayMs);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      return service.complete(req, signal).catch((e) => (e instanceof AbortedError ? undefined : Promise.reject(e)));
    },
  });
  const main = readFileSync(join(WORKSPACE, 'src/main.ts'), 'utf8');
  const cut = main.indexOf('\n', main.indexOf('const start')) + 1;
  /** src/main.ts with `const <typed>` on a new line after `const start`, the cursor after it. */
  const doc = (typed: string) => at(main.slice(0, cut) + '  const ' + typed, main.slice(cut), 'src/main.ts');
  const done = async () => {
    await service.dispose();
    models.length = 0;
  };
  return { flow, calls, doc, main, cut, done };
}

test('typing through a ghost and coming back make no engine request', async () => {
  const { flow, calls, doc, done } = await flowOnFixture();
  const o = { debounceMs: 0, manual: false, budgetTokens: 1500 };
  const first = await flow.run(doc(''), o);
  assert.ok(first && first.text.length >= 2, `a ghost to type through: ${JSON.stringify(first?.text)}`);
  assert.equal(calls.engine, 1);
  const ghost = first.text;
  for (let n = 1; n < ghost.length; n++) {
    const r = await flow.run(doc(ghost.slice(0, n)), o);
    assert.equal(r?.source, 'cache');
    assert.equal(r?.text, ghost.slice(n));
  }
  // Back to the start (undo): the same ghost, still without the engine.
  assert.equal((await flow.run(doc(''), o))?.text, ghost);
  assert.equal(calls.engine, 1);
  assert.equal(flow.servedFromCache, ghost.length);
  // Something else typed: the engine again.
  await flow.run(doc('zz'), o);
  assert.equal(calls.engine, 2);
  await done();
});

test('a keystroke while a request is in the engine waits for its answer and types through it', async () => {
  const { flow, calls, doc, main, cut, done } = await flowOnFixture();
  /** Resolves when the next request reaches the engine (rejects after 30 s: it was held back). */
  const inEngine = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no request reached the engine in 30 s')), 30_000);
      calls.onEngine = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const slow = { debounceMs: 60_000, manual: false, budgetTokens: 1500 };

  // The first request in a document just switched to does not wait out the (here one-minute) debounce.
  const reachedFirst = inEngine();
  const firstRun = flow.run(doc(''), slow);
  await reachedFirst;
  const ghost = (await firstRun)?.text ?? '';
  assert.ok(ghost.length >= 2, `a ghost to type through: ${JSON.stringify(ghost)}`);

  // Asked again at the same place; while that request is in the engine, the ghost's first
  // character is typed: that keystroke waits, and is served the rest of the ghost from the answer.
  flow.cache.clear();
  let reachedAgain = inEngine();
  const again = flow.run(doc(''), { ...slow, manual: true });
  await reachedAgain;
  const typed = await flow.run(doc(ghost[0]!), slow);
  assert.equal(typed?.source, 'cache');
  assert.equal(typed?.text, ghost.slice(1));
  assert.equal(calls.engine, 2, 'the keystroke made no request of its own');
  assert.equal((await again)?.text, ghost, 'the request it waited for ran to its answer');

  // A character the answer does not start with: after the answer, a request of its own.
  flow.cache.clear();
  reachedAgain = inEngine();
  const third = flow.run(doc(''), { ...slow, manual: true });
  await reachedAgain;
  const other = ghost.startsWith('z') ? 'y' : 'z';
  const fresh = await flow.run(doc(other), { ...slow, debounceMs: 0 });
  assert.equal((await third)?.text, ghost, 'the request it waited for ran to its answer');
  assert.equal(calls.engine, 4, 'the keystroke asked the engine itself');
  assert.notEqual(fresh?.source, 'cache');

  // Somewhere else (the text before the cursor changed): the request in the engine is aborted.
  flow.cache.clear();
  reachedAgain = inEngine();
  const stale = flow.run(doc(''), { ...slow, manual: true });
  await reachedAgain;
  const elsewhere = await flow.run(at(main.slice(0, cut), main.slice(cut), 'src/main.ts'), { ...slow, debounceMs: 0 });
  assert.equal(await stale, undefined, 'aborted');
  assert.equal(calls.engine, 6);
  assert.ok(elsewhere);
  await done();
});

test('a burst of keystrokes closer than the debounce still reaches the engine, about every maxWait', async () => {
  const { flow, calls, doc, done } = await flowOnFixture();
  await flow.run(doc(''), { debounceMs: 0, manual: true, budgetTokens: 1500 }); // the switch's request
  flow.cache.clear();
  const o = { debounceMs: 150, maxWaitMs: 400, manual: false, budgetTokens: 1500 };
  const typed = 'abcdefghijkl'; // never what the ghost shows: every keystroke needs the engine
  const before = calls.engine;
  const runs: Promise<unknown>[] = [];
  for (let n = 1; n <= typed.length; n++) {
    runs.push(flow.run(doc(typed.slice(0, n)), o));
    if (n < typed.length) await new Promise((r) => setTimeout(r, 110));
  }
  const duringBurst = calls.engine - before;
  await Promise.all(runs);
  // 12 keystrokes 110 ms apart (1.2 s): with only the 150 ms debounce, none would go out before the
  // last; with maxWait each burst of about 400 ms sends one, and the next keystroke starts a new one.
  assert.ok(duringBurst >= 1, `requests during the burst: ${duringBurst}`);
  assert.ok(duringBurst <= 5, `not every keystroke once maxWait passed: ${duringBurst}`);
  await done();
});

test('holding Backspace sends nothing until the pause; a slow answer is waited for only up to joinWaitMs', async () => {
  const { flow, calls, doc, done } = await flowOnFixture();
  await flow.run(doc('abcdefghijklmn'), { debounceMs: 0, manual: true, budgetTokens: 1500 }); // the switch's request
  const o = { debounceMs: 150, maxWaitMs: 400, manual: false, budgetTokens: 1500 };
  let before = calls.engine;
  const runs: Promise<unknown>[] = [];
  for (let n = 13; n >= 2; n--) {
    runs.push(flow.run(doc('abcdefghijklmn'.slice(0, n)), o));
    if (n > 2) await new Promise((r) => setTimeout(r, 110));
  }
  assert.equal(calls.engine - before, 0, 'no request while deleting without a pause');
  await Promise.all(runs);
  assert.equal(calls.engine - before, 1, 'one after the pause');

  // A model taking 5 s a request: a keystroke typing on waits 300 ms for it, then asks itself.
  calls.delayMs = 5000;
  flow.cache.clear();
  before = calls.engine;
  let reached = () => {};
  const inEngine = new Promise<void>((r) => {
    reached = r;
  });
  calls.onEngine = () => reached();
  const slow = flow.run(doc('x'), { ...o, manual: true });
  await inEngine;
  calls.delayMs = 0;
  const typed = await flow.run(doc('xy'), { ...o, joinWaitMs: 300 });
  assert.equal(await slow, undefined, 'the slow request was aborted once the cap passed');
  assert.ok(typed && typed.source !== 'cache', 'the keystroke got its own answer');
  assert.equal(calls.engine - before, 2);
  await done();
});
