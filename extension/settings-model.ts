// The `squeeze.*` settings as typed values: validation with messages that say what to write, and
// the engine configuration they imply. No vscode import, so it is unit-tested directly; settings.ts
// reads the raw values from VS Code (and applies workspace trust) before calling parseSettings.
import { EDITOR_DEFAULTS } from '../engine/editor/defaults';
import { BLOCK_SCORINGS, type BlockScoring, DEFAULT_BLOCK_SCORING } from '../engine/completion/block-scoring';
import { parseBudgetText } from '../engine/kv/budget-text';
import type { KvBudget, Bits } from '../engine/kv/budget';
import {
  DEFAULT_KV_BUDGET_TEXT,
  DEFAULT_KV_POLICY,
  DEFAULT_SERVICE_CONFIG,
  WEIGHT_PRECISIONS,
  type ServiceConfig,
  type WeightPrecision,
} from '../engine/completion/service-types';
import type { ProviderSetting } from '../engine/worker/protocol';

export const PROVIDERS: readonly ProviderSetting[] = ['auto', 'cuda', 'dml', 'webgpu', 'cpu'];
/** The KV methods the settings offer (engine/kv/policies; kvcrush wraps the pruning ones). */
export const KV_METHODS: readonly string[] = [
  'full',
  'streaming',
  'snapkv',
  'quant',
  'qpruning',
  'mikv',
  'dbudget',
  'kvcrush+streaming',
  'kvcrush+snapkv',
  'kvcrush+qpruning',
  'kvcrush+dbudget',
];
export const BIT_WIDTHS = ['auto', '16', '8', '4', '2'] as const;
export type BitWidthSetting = (typeof BIT_WIDTHS)[number];

/** VS Code language ids with a tree-sitter grammar in the context gatherer (engine/context/languages.ts). */
export const SUPPORTED_LANGUAGES: readonly string[] = [
  'typescript',
  'typescriptreact',
  'javascript',
  'javascriptreact',
  'python',
  'go',
  'rust',
  'java',
  'c',
  'cpp',
  'csharp',
];

export interface SqueezeSettings {
  enable: boolean;
  enabledLanguages: string[];
  /** '' = the shipped default model. */
  modelPath: string;
  executionProvider: ProviderSetting;
  weights: WeightPrecision;
  kvBudgetText: string;
  kvBudget: KvBudget;
  kvMethod: string;
  kvBits: BitWidthSetting;
  dynamicBudget: boolean;
  /** Most MiB the cache may hold while a block is built; 0: no limit. */
  kvMaxPrefillMB: number;
  /** What scores the repository block's tokens before the cursor's query exists. */
  kvScoring: BlockScoring;
  contextMaxTokens: number;
  debounceMs: number;
  maxCompletionTokens: number;
  /** Distinct completions offered per request (cycled with Alt+] / Alt+[). */
  alternatives: number;
  timeCapMs: number;
  downloadEndpoint: string;
  downloadRepository: string;
  downloadRevision: string;
}

export const DEFAULT_SETTINGS: SqueezeSettings = {
  enable: true,
  enabledLanguages: [...SUPPORTED_LANGUAGES],
  modelPath: '',
  executionProvider: 'auto',
  weights: 'auto',
  kvBudgetText: DEFAULT_KV_BUDGET_TEXT,
  kvBudget: parseBudgetText(DEFAULT_KV_BUDGET_TEXT),
  kvMethod: DEFAULT_KV_POLICY,
  kvBits: 'auto',
  dynamicBudget: false,
  kvMaxPrefillMB: 0,
  kvScoring: DEFAULT_BLOCK_SCORING,
  contextMaxTokens: EDITOR_DEFAULTS.contextMaxTokens,
  debounceMs: EDITOR_DEFAULTS.debounceMs,
  maxCompletionTokens: DEFAULT_SERVICE_CONFIG.maxTokens,
  alternatives: EDITOR_DEFAULTS.alternatives,
  timeCapMs: DEFAULT_SERVICE_CONFIG.timeCapMs,
  downloadEndpoint: 'https://huggingface.co',
  downloadRepository: 'Qwen/Qwen2.5-Coder-0.5B',
  downloadRevision: 'main',
};

/** Setting keys (after `squeeze.`) as package.json contributes them. */
export const KEYS = {
  enable: 'enable',
  enabledLanguages: 'enabledLanguages',
  modelPath: 'modelPath',
  executionProvider: 'executionProvider',
  weights: 'weights',
  kvBudget: 'kv.budget',
  kvMethod: 'kv.method',
  kvBits: 'kv.bits',
  dynamicBudget: 'kv.dynamicBudget',
  kvMaxPrefillMB: 'kv.maxPrefillMB',
  kvScoring: 'kv.scoring',
  contextMaxTokens: 'context.maxTokens',
  debounceMs: 'debounceMs',
  maxCompletionTokens: 'maxCompletionTokens',
  alternatives: 'alternatives',
  timeCapMs: 'timeCapMs',
  downloadEndpoint: 'download.endpoint',
  downloadRepository: 'download.repository',
  downloadRevision: 'download.revision',
} as const;

/** Settings a workspace must not set while it is untrusted: they choose what code and binaries
 *  run (a model folder, an execution provider's native libraries) or where downloads come from. */
export const RESTRICTED_KEYS: readonly string[] = [KEYS.modelPath, KEYS.executionProvider, KEYS.downloadEndpoint];

/** What VS Code's WorkspaceConfiguration.inspect() tells about one setting. */
export interface InspectedValue {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
  /** The merged value VS Code would hand out (get()). */
  value?: unknown;
}

/** The value to use: in an untrusted workspace, a restricted setting takes only the user's own
 *  (global) value or the default, never what the workspace's .vscode/settings.json says. */
export function trustedValue(key: string, inspected: InspectedValue | undefined, trusted: boolean): unknown {
  if (!inspected) return undefined;
  if (trusted || !RESTRICTED_KEYS.includes(key)) return inspected.value;
  return inspected.globalValue ?? inspected.defaultValue;
}

export interface SettingProblem {
  key: string;
  message: string;
}

type Raw = Record<string, unknown>;

/** Validates raw values (undefined = not set); an invalid value falls back to its default and is
 *  reported, so one typo never stops completions. */
export function parseSettings(raw: Raw): { settings: SqueezeSettings; problems: SettingProblem[] } {
  const problems: SettingProblem[] = [];
  const d = DEFAULT_SETTINGS;
  const bad = (key: string, message: string) =>
    problems.push({ key: `squeeze.${key}`, message: `squeeze.${key}: ${message}` });
  const bool = (key: string, def: boolean): boolean => {
    const v = raw[key];
    if (v === undefined) return def;
    if (typeof v === 'boolean') return v;
    bad(key, `must be true or false, got ${JSON.stringify(v)}`);
    return def;
  };
  const str = (key: string, def: string): string => {
    const v = raw[key];
    if (v === undefined || v === null) return def;
    if (typeof v === 'string') return v.trim();
    bad(key, `must be a string, got ${JSON.stringify(v)}`);
    return def;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], def: T): T => {
    const v = raw[key];
    if (v === undefined) return def;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    bad(key, `must be one of ${allowed.join(', ')}; got ${JSON.stringify(v)}`);
    return def;
  };
  const int = (key: string, def: number, min: number, max: number): number => {
    const v = raw[key];
    if (v === undefined) return def;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    bad(key, `must be a whole number from ${min} to ${max}; got ${JSON.stringify(v)}`);
    return def;
  };

  let kvBudgetText = str(KEYS.kvBudget, d.kvBudgetText);
  let kvBudget = d.kvBudget;
  try {
    kvBudget = parseBudgetText(kvBudgetText);
  } catch (e) {
    bad(KEYS.kvBudget, (e as Error).message);
    kvBudgetText = d.kvBudgetText;
  }
  let enabledLanguages = d.enabledLanguages;
  const langs = raw[KEYS.enabledLanguages];
  if (langs !== undefined) {
    if (Array.isArray(langs) && langs.every((l) => typeof l === 'string')) enabledLanguages = langs as string[];
    else
      bad(
        KEYS.enabledLanguages,
        `must be a list of VS Code language ids, e.g. ["typescript", "python"]; got ${JSON.stringify(langs)}`,
      );
  }
  let downloadEndpoint = str(KEYS.downloadEndpoint, d.downloadEndpoint).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+/.test(downloadEndpoint)) {
    bad(
      KEYS.downloadEndpoint,
      `must be an http(s) URL such as https://huggingface.co; got ${JSON.stringify(downloadEndpoint)}`,
    );
    downloadEndpoint = d.downloadEndpoint;
  }
  let downloadRepository = str(KEYS.downloadRepository, d.downloadRepository);
  if (!/^[\w.-]+\/[\w.-]+$/.test(downloadRepository)) {
    bad(
      KEYS.downloadRepository,
      `must look like "owner/name" (a Hugging Face model id); got ${JSON.stringify(downloadRepository)}`,
    );
    downloadRepository = d.downloadRepository;
  }
  const settings: SqueezeSettings = {
    enable: bool(KEYS.enable, d.enable),
    enabledLanguages,
    modelPath: str(KEYS.modelPath, d.modelPath),
    executionProvider: oneOf(KEYS.executionProvider, PROVIDERS, d.executionProvider),
    weights: oneOf(KEYS.weights, WEIGHT_PRECISIONS, d.weights),
    kvBudgetText,
    kvBudget,
    kvMethod: oneOf(KEYS.kvMethod, KV_METHODS, d.kvMethod),
    kvBits: oneOf(KEYS.kvBits, BIT_WIDTHS, d.kvBits),
    dynamicBudget: bool(KEYS.dynamicBudget, d.dynamicBudget),
    kvMaxPrefillMB: int(KEYS.kvMaxPrefillMB, d.kvMaxPrefillMB, 0, 1 << 20),
    kvScoring: oneOf(KEYS.kvScoring, BLOCK_SCORINGS, d.kvScoring),
    contextMaxTokens: int(KEYS.contextMaxTokens, d.contextMaxTokens, 512, 131072),
    debounceMs: int(KEYS.debounceMs, d.debounceMs, 0, 5000),
    maxCompletionTokens: int(KEYS.maxCompletionTokens, d.maxCompletionTokens, 1, 1024),
    alternatives: int(KEYS.alternatives, d.alternatives, 1, 5),
    timeCapMs: int(KEYS.timeCapMs, d.timeCapMs, 50, 60000),
    downloadEndpoint,
    downloadRepository,
    downloadRevision: str(KEYS.downloadRevision, d.downloadRevision) || d.downloadRevision,
  };
  return { settings, problems };
}

/** The KV policy that runs: with a dynamic budget, DBudgetKV decides how many tokens each layer
 *  keeps (the budget setting becomes the cap), wrapped in KVCrush when the method asks for it. */
export function effectivePolicy(s: Pick<SqueezeSettings, 'kvMethod' | 'dynamicBudget'>): string {
  if (!s.dynamicBudget) return s.kvMethod;
  return s.kvMethod.startsWith('kvcrush+') ? 'kvcrush+dbudget' : 'dbudget';
}

export function serviceConfigOf(s: SqueezeSettings): ServiceConfig {
  const bits = s.kvBits === 'auto' ? undefined : (Number(s.kvBits) as Bits);
  return {
    ...DEFAULT_SERVICE_CONFIG,
    kv: {
      policy: effectivePolicy(s),
      budget: s.kvBudget,
      ...(bits === undefined ? {} : { bits }),
      ...(s.kvMaxPrefillMB > 0 ? { maxLiveBytes: s.kvMaxPrefillMB * 2 ** 20 } : {}),
      scoring: s.kvScoring,
    },
    maxTokens: s.maxCompletionTokens,
    timeCapMs: s.timeCapMs,
  };
}

/** Whether a change between two settings needs the model reloaded (not just reconfigured). */
export function needsReload(a: SqueezeSettings, b: SqueezeSettings): boolean {
  return a.modelPath !== b.modelPath || a.executionProvider !== b.executionProvider || a.weights !== b.weights;
}
