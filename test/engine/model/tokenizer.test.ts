import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelTokenizer, StreamingDecoder } from '../../../engine/model/tokenizer';
import { FAMILIES } from '../../../engine/model/families';
import { FIXTURE_MODELS, fixtureDir, loadReference } from '../../helpers/fixtures';

for (const m of FIXTURE_MODELS) {
  test(`${m}: token ids equal transformers' input_ids and decode round-trips`, () => {
    const tok = ModelTokenizer.load(fixtureDir(m));
    for (const c of loadReference(m).cases) {
      assert.deepEqual(tok.encode(c.text), c.input_ids, c.name);
      assert.equal(tok.decode(c.input_ids), c.text);
      assert.equal(tok.decode(c.greedy_20), c.greedy_20_text);
    }
  });
}

test('FIM and repository special tokens encode as single ids', () => {
  const tok = ModelTokenizer.load(fixtureDir('qwen2'));
  // The fixture has Qwen2.5-Coder's FIM and repository tokens (not its chat tokens).
  for (const s of FAMILIES['qwen2.5-coder'].specialTokens.filter((t) => !t.startsWith('<|im_'))) {
    const id = tok.tokenId(s);
    assert.ok(id !== undefined, s);
    assert.deepEqual(tok.encode(s), [id], s);
  }
  assert.deepEqual(tok.encode('<|repo_name|>x<|file_sep|>'), [
    tok.tokenId('<|repo_name|>')!,
    ...tok.encode('x'),
    tok.tokenId('<|file_sep|>')!,
  ]);
});

test('streaming decode holds back incomplete multi-byte characters', () => {
  const tok = ModelTokenizer.load(fixtureDir('qwen2'));
  const text = 'naïve → 🙂 ok';
  const ids = tok.encode(text);
  const dec = new StreamingDecoder(tok);
  let joined = '';
  for (const id of ids) {
    const d = dec.push(id);
    assert.ok(!d.includes('\uFFFD'), `delta ${JSON.stringify(d)} has a replacement character`);
    joined += d;
  }
  assert.equal(joined, text);
});

test('decoding no ids gives the empty string', () => {
  assert.equal(ModelTokenizer.load(fixtureDir('qwen2')).decode([]), '');
});

test('a missing tokenizer file is named in the error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sq-tok-'));
  copyFileSync(join(fixtureDir('qwen2'), 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  assert.throws(
    () => ModelTokenizer.load(dir),
    (e: Error) => e.message.includes(join(dir, 'tokenizer.json')) && /missing tokenizer/.test(e.message),
  );
});
