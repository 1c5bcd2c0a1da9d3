// Settings: validation messages, fallbacks, the engine config they imply, and that package.json's
// contributed schema agrees with the code (defaults, enums, the budget pattern, restricted keys).
import { BLOCK_SCORINGS } from '../../engine/completion/block-scoring';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_SETTINGS,
  KEYS,
  KV_METHODS,
  PROVIDERS,
  RESTRICTED_KEYS,
  SUPPORTED_LANGUAGES,
  BIT_WIDTHS,
  effectivePolicy,
  needsReload,
  parseSettings,
  serviceConfigOf,
  trustedValue,
} from '../../extension/settings-model';
import { createPolicy } from '../../engine/kv/policies';
import { parseBudgetText } from '../../engine/kv/budget-text';
import { DEFAULT_KV_POLICY, DEFAULT_KV_BUDGET } from '../../engine/completion/service-types';

const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
const props = pkg.contributes.configuration.properties as Record<
  string,
  { default: unknown; enum?: string[]; pattern?: string }
>;

test('unset settings give the defaults, with no problems', () => {
  const { settings, problems } = parseSettings({});
  assert.deepEqual(problems, []);
  assert.deepEqual(settings, DEFAULT_SETTINGS);
  const cfg = serviceConfigOf(settings);
  assert.equal(cfg.kv.policy, DEFAULT_KV_POLICY);
  assert.deepEqual(cfg.kv.budget, DEFAULT_KV_BUDGET);
  assert.equal(cfg.kv.bits, undefined);
  assert.equal(cfg.kv.maxLiveBytes, undefined, 'no prefill memory limit by default');
});

test('kv.maxPrefillMB becomes the block build limit in bytes', () => {
  const { settings, problems } = parseSettings({ [KEYS.kvMaxPrefillMB]: 512 });
  assert.deepEqual(problems, []);
  assert.equal(serviceConfigOf(settings).kv.maxLiveBytes, 512 * 2 ** 20);
  assert.equal(parseSettings({ [KEYS.kvMaxPrefillMB]: -1 }).problems.length, 1);
});

test('invalid values fall back to their defaults and say what to write', () => {
  const { settings, problems } = parseSettings({
    [KEYS.kvBudget]: 'half',
    [KEYS.executionProvider]: 'tpu',
    [KEYS.debounceMs]: -3,
    [KEYS.enable]: 'yes',
    [KEYS.enabledLanguages]: 'python',
    [KEYS.downloadEndpoint]: 'ftp://x',
    [KEYS.kvMethod]: 'magic',
  });
  assert.equal(settings.kvBudgetText, '25%');
  assert.equal(settings.executionProvider, 'auto');
  assert.equal(settings.debounceMs, DEFAULT_SETTINGS.debounceMs);
  assert.equal(settings.enable, true);
  const byKey = Object.fromEntries(problems.map((p) => [p.key, p.message]));
  assert.match(byKey['squeeze.kv.budget']!, /"half".*e\.g\. "25%".*"512MB"/);
  assert.match(byKey['squeeze.executionProvider']!, /one of auto, cuda, dml, webgpu, cpu; got "tpu"/);
  assert.match(byKey['squeeze.debounceMs']!, /whole number from 0 to 5000; got -3/);
  assert.match(byKey['squeeze.enable']!, /true or false/);
  assert.match(byKey['squeeze.enabledLanguages']!, /list of VS Code language ids/);
  assert.match(byKey['squeeze.download.endpoint']!, /http\(s\) URL/);
  assert.match(byKey['squeeze.kv.method']!, /one of full, streaming/);
});

test('the engine config: budget in MB, forced bits, dynamic budget', () => {
  const { settings } = parseSettings({
    [KEYS.kvBudget]: '512MB',
    [KEYS.kvBits]: '4',
    [KEYS.maxCompletionTokens]: 32,
    [KEYS.timeCapMs]: 700,
    [KEYS.kvScoring]: 'query',
  });
  const cfg = serviceConfigOf(settings);
  assert.deepEqual(cfg.kv, {
    policy: 'qpruning',
    budget: { kind: 'bytes', value: 512 * 2 ** 20 },
    bits: 4,
    scoring: 'query',
  });
  assert.equal(cfg.maxTokens, 32);
  assert.equal(cfg.timeCapMs, 700);
  assert.equal(effectivePolicy({ kvMethod: 'qpruning', dynamicBudget: true }), 'dbudget');
  assert.equal(effectivePolicy({ kvMethod: 'kvcrush+snapkv', dynamicBudget: true }), 'kvcrush+dbudget');
  assert.equal(effectivePolicy({ kvMethod: 'snapkv', dynamicBudget: false }), 'snapkv');
  assert.equal(needsReload(settings, { ...settings, kvBudgetText: '1%' }), false);
  assert.equal(needsReload(settings, { ...settings, executionProvider: 'cpu' }), true);
});

test("package.json contributes every setting with the code's defaults", () => {
  for (const [field, key] of Object.entries(KEYS)) {
    const p = props[`squeeze.${key}`];
    assert.ok(p, `squeeze.${key} is contributed`);
    const def =
      field === 'kvBudget'
        ? DEFAULT_SETTINGS.kvBudgetText
        : (DEFAULT_SETTINGS as unknown as Record<string, unknown>)[field];
    assert.deepEqual(p.default, def, `default of squeeze.${key}`);
  }
  assert.deepEqual(
    Object.keys(props).sort(),
    Object.values(KEYS)
      .map((k) => `squeeze.${k}`)
      .sort(),
    'no setting without code',
  );
  assert.deepEqual(props['squeeze.kv.method']!.enum, KV_METHODS);
  assert.deepEqual(props['squeeze.executionProvider']!.enum, PROVIDERS);
  assert.deepEqual(props['squeeze.kv.bits']!.enum, BIT_WIDTHS);
  assert.deepEqual(props['squeeze.kv.scoring']!.enum, BLOCK_SCORINGS);
  assert.deepEqual(props['squeeze.enabledLanguages']!.default, SUPPORTED_LANGUAGES);
  assert.deepEqual(
    pkg.capabilities.untrustedWorkspaces.restrictedConfigurations,
    RESTRICTED_KEYS.map((k) => `squeeze.${k}`),
  );
});

test('every offered KV method is one the engine can create', () => {
  for (const m of KV_METHODS) if (m !== 'full') assert.doesNotThrow(() => createPolicy(m), m);
});

test('the settings UI pattern for the budget accepts what the parser accepts', () => {
  const pattern = new RegExp(props['squeeze.kv.budget']!.pattern!);
  const parses = (t: string) => {
    try {
      parseBudgetText(t);
      return true;
    } catch {
      return false;
    }
  };
  for (const t of [
    '25%',
    '12.5 %',
    '512MB',
    '1.5GB',
    '64kib',
    '0.25',
    '.5',
    '1',
    'half',
    '512',
    '%',
    'MB',
    '2.5',
    '25%%',
  ]) {
    // The pattern is syntax only; ranges (0%, 150%) are the parser's to reject with a message.
    if (parses(t)) assert.ok(pattern.test(t), `pattern accepts "${t}"`);
    else if (!/^\s*\d+(\.\d+)?\s*%\s*$/.test(t)) assert.ok(!pattern.test(t), `pattern rejects "${t}"`);
  }
});

test('an untrusted workspace cannot choose the model folder, provider or download endpoint', () => {
  const inspected = {
    defaultValue: '',
    globalValue: '/home/me/models/qwen',
    workspaceValue: '/tmp/evil-model',
    value: '/tmp/evil-model',
  };
  assert.equal(trustedValue(KEYS.modelPath, inspected, true), '/tmp/evil-model', 'trusted: the workspace may');
  assert.equal(
    trustedValue(KEYS.modelPath, inspected, false),
    '/home/me/models/qwen',
    "untrusted: the user's own value",
  );
  assert.equal(
    trustedValue(KEYS.executionProvider, { defaultValue: 'auto', workspaceValue: 'cuda', value: 'cuda' }, false),
    'auto',
    'untrusted, no user value: the default',
  );
  assert.equal(
    trustedValue(
      KEYS.downloadEndpoint,
      { defaultValue: 'https://huggingface.co', workspaceFolderValue: 'http://evil', value: 'http://evil' },
      false,
    ),
    'https://huggingface.co',
  );
  // Other settings keep the workspace's value.
  assert.equal(trustedValue(KEYS.kvBudget, { defaultValue: '25%', workspaceValue: '10%', value: '10%' }, false), '10%');
});
