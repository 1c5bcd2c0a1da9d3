// gitignore(5) semantics of the matcher, checked by hand against what `git check-ignore` does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GitignoreRules, IgnoreTree } from '../../../engine/context/gitignore';
import { makeRepo, removeRepo } from './helpers';

const rules = (content: string, base = '') => new GitignoreRules(base, content);

test('basename patterns match at any depth; anchored ones only at the base', () => {
  const r = rules('*.log\n/build\ndocs/tmp\n');
  assert.equal(r.match('a.log', false), true);
  assert.equal(r.match('x/y/a.log', false), true);
  assert.equal(r.match('build', true), true);
  assert.equal(r.match('src/build', true), undefined, '/build is anchored to the root');
  assert.equal(r.match('docs/tmp', true), true);
  assert.equal(r.match('x/docs/tmp', true), undefined, 'a middle slash anchors too');
});

test('trailing slash matches directories only; negation re-includes; last match wins', () => {
  const r = rules('out/\n*.gen.ts\n!keep.gen.ts\n');
  assert.equal(r.match('out', true), true);
  assert.equal(r.match('out', false), undefined);
  assert.equal(r.match('a.gen.ts', false), true);
  assert.equal(r.match('src/keep.gen.ts', false), false);
});

test('** in leading, trailing and middle positions; ? and character classes', () => {
  const r = rules('**/cache\nlogs/**\na/**/b\nfile?.txt\n[abc]x.md\n[!0-9]y.md\n');
  assert.equal(r.match('cache', true), true);
  assert.equal(r.match('deep/er/cache', true), true);
  assert.equal(r.match('logs/x/y.txt', false), true);
  assert.equal(r.match('logs', true), undefined, 'logs/** matches what is inside, not logs itself');
  assert.equal(r.match('a/b', true), true);
  assert.equal(r.match('a/x/y/b', true), true);
  assert.equal(r.match('file1.txt', false), true);
  assert.equal(r.match('file12.txt', false), undefined);
  assert.equal(r.match('bx.md', false), true);
  assert.equal(r.match('dx.md', false), undefined);
  assert.equal(r.match('zy.md', false), true);
  assert.equal(r.match('5y.md', false), undefined);
});

test('comments, blank lines, escapes and trailing spaces', () => {
  const r = rules('# comment\n\n\\#hash\n\\!bang\ntrail   \nsp\\ \n');
  assert.equal(r.match('#hash', false), true);
  assert.equal(r.match('!bang', false), true);
  assert.equal(r.match('trail', false), true);
  assert.equal(r.match('sp ', false), true);
  assert.equal(r.match('comment', false), undefined);
});

test('nested .gitignore files apply below their directory and override the root', () => {
  const root = makeRepo({
    '.gitignore': '*.tmp\nsecret/\n',
    'pkg/.gitignore': '!keep.tmp\nlocal.ts\n',
    'pkg/keep.tmp': '',
    'pkg/drop.tmp': '',
    'pkg/local.ts': '',
    'local.ts': '',
    'secret/a.ts': '',
  });
  try {
    const t = new IgnoreTree(root);
    assert.equal(t.ignores('pkg/drop.tmp'), true);
    assert.equal(t.ignores('pkg/keep.tmp'), false, 'the deeper negation wins');
    assert.equal(t.ignores('pkg/local.ts'), true);
    assert.equal(t.ignores('local.ts'), false, 'pkg/.gitignore does not apply at the root');
    assert.equal(t.ignores('secret/a.ts'), true, 'inside an ignored directory');
  } finally {
    removeRepo(root);
  }
});
