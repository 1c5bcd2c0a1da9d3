// The provider's request discipline: a new request aborts the previous one, the debounce ends
// early on abort, and engine calls in flight are counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompletionGate } from '../../../engine/editor/completion-gate';

test('a new ticket aborts the previous one, also during its debounce', async () => {
  const gate = new CompletionGate();
  const a = gate.begin();
  const t0 = performance.now();
  const waiting = a.wait(1000);
  const b = gate.begin();
  assert.equal(await waiting, false);
  assert.ok(performance.now() - t0 < 100, 'the wait ended at the abort');
  assert.ok(a.aborted && !b.aborted);
  assert.equal(await b.wait(10), true);
  assert.equal(await a.wait(0), false);
});

test("engine calls in flight are counted, and the signal is the ticket's", async () => {
  const gate = new CompletionGate();
  const t = gate.begin();
  let seen: AbortSignal | undefined;
  const p = t.call(async (signal) => {
    seen = signal;
    assert.equal(gate.inFlight, 1);
    await new Promise((r) => setTimeout(r, 10));
    return 7;
  });
  assert.equal(await p, 7);
  assert.equal(seen, t.signal);
  assert.equal(gate.inFlight, 0);
  assert.equal(gate.maxInFlight, 1);
  gate.abortAll();
  assert.ok(t.aborted);
});

test('a burst of typing closer than the debounce still sends a request maxWait after it began', () => {
  const gate = new CompletionGate();
  // Hand-checked timeline, debounce 150 ms, maxWait 400 ms, keystrokes 110 ms apart from t=1000.
  assert.equal(gate.debounceFor(150, 400, 1000), 150); // the burst begins
  assert.equal(gate.debounceFor(150, 400, 1110), 150); // 290 ms left of the 400
  assert.equal(gate.debounceFor(150, 400, 1220), 150); // 180 left
  assert.equal(gate.debounceFor(150, 400, 1330), 70); // goes out at 1400 = 1000 + 400
  gate.fired();
  assert.equal(gate.debounceFor(150, 400, 1440), 150, 'after a request went out, a new burst');
  // A keystroke after a pause (the previous debounce ran out) starts a new burst too.
  assert.equal(gate.debounceFor(150, 400, 1700), 150);
  assert.equal(gate.debounceFor(150, 400, 1800), 150);
  assert.equal(gate.debounceFor(150, 400, 2050), 150, '250 ms after the last keystroke: a pause, a new burst');
  // maxWait below the debounce never shortens a lone keystroke's debounce.
  assert.equal(new CompletionGate().debounceFor(300, 100, 0), 300);
});
