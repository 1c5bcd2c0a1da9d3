// Model families: recognized by name or by the FIM tokens of a real tokenizer, and a clear error
// for a model without a known fill-in-the-middle format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  detectFamily,
  FAMILIES,
  familyFromModelName,
  MODEL_FAMILIES,
  NoFimFormatError,
} from '../../../engine/model/families';
import { ModelTokenizer } from '../../../engine/model/tokenizer';
import { fixtureDir } from '../../helpers/fixtures';

test('familyFromModelName', () => {
  assert.equal(familyFromModelName('Qwen/Qwen2.5-Coder-1.5B'), 'qwen2.5-coder');
  assert.equal(familyFromModelName('deepseek-ai/deepseek-coder-1.3b-base'), 'deepseek-coder');
  assert.equal(familyFromModelName('bigcode/starcoder2-3b'), 'starcoder2');
  assert.equal(familyFromModelName('codellama/CodeLlama-7b-hf'), 'codellama');
  assert.equal(familyFromModelName('gpt2'), undefined);
});

test('the prompt family comes from the folder name or the tokenizer, else a clear error', () => {
  const tokenizer = ModelTokenizer.load(fixtureDir('qwen2'));
  const has = (t: string) => tokenizer.tokenId(t) !== undefined;
  assert.equal(
    detectFamily(fixtureDir('qwen2'), has),
    'qwen2.5-coder',
    'by the vocabulary (the folder name says nothing)',
  );
  assert.equal(detectFamily('/models/starcoder2-3b', has), 'starcoder2', 'the name wins');
  assert.throws(
    () => detectFamily('/models/plain-llm', () => false),
    (e: unknown) =>
      e instanceof NoFimFormatError &&
      /plain-llm/.test((e as Error).message) &&
      /Qwen2.5-Coder/.test((e as Error).message),
  );
});

test('every family marks the answer with one of its own special tokens', () => {
  for (const f of MODEL_FAMILIES) {
    const r = FAMILIES[f];
    assert.equal(r.name, f);
    assert.ok(
      r.specialTokens.some((t) => r.fimMarker.endsWith(t)),
      `${f}: ${r.fimMarker} is a special token`,
    );
  }
});
