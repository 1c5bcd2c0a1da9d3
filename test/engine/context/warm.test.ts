// Opening a document warms its language's parser in the background (CompletionFlow.opened), so
// the first completion there does not pay for the grammar, its queries and the parser's first run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadedParser } from '../../../engine/context/parser';
import { CompletionFlow } from '../../../engine/editor/completion-flow';

const GO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n';

async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(25);
  return check();
}

test('opening a file loads its grammar in the background; other files and garbage are harmless', async () => {
  let built = 0;
  const flow = new CompletionFlow({
    builder: () => {
      built++;
      return undefined;
    },
    complete: async () => undefined,
  });
  assert.equal(loadedParser('go'), undefined, 'nothing in this process has parsed Go yet');
  flow.opened('cmd/main.go', () => GO);
  assert.ok(await until(() => loadedParser('go') !== undefined), 'the Go grammar was never loaded');
  // Unknown languages and binary text neither throw nor load anything; no prompt is ever built.
  flow.opened('notes.unknown-ext', () => {
    throw new Error('an unknown language must not read the text');
  });
  flow.opened('blob.rs', () => '\u0000\u0001\uFFFD'.repeat(50_000));
  assert.ok(await until(() => loadedParser('rust') !== undefined), 'a garbage Rust file still warms the parser');
  assert.equal(built, 0);
});
