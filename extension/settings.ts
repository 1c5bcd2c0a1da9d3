// Reads the `squeeze.*` settings from VS Code. In an untrusted workspace the values a workspace
// sets for restricted settings (model folder, execution provider, download endpoint: they decide
// which files and native libraries run, and where downloads come from) are ignored: only the user's
// global value or the default counts. Validation lives in settings-model.ts.
import * as vscode from 'vscode';
import { KEYS, parseSettings, trustedValue, type SettingProblem, type SqueezeSettings } from './settings-model';

export const SETTINGS_SECTION = 'squeeze';

export function readSettings(): { settings: SqueezeSettings; problems: SettingProblem[] } {
  const c = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const raw: Record<string, unknown> = {};
  const trusted = vscode.workspace.isTrusted;
  for (const key of Object.values(KEYS)) {
    raw[key] = trusted ? c.get(key) : trustedValue(key, { ...c.inspect(key), value: c.get(key) }, false);
  }
  return parseSettings(raw);
}

/** Whether completions are on for this document: `squeeze.enable` (which can be set per language)
 *  and `squeeze.enabledLanguages`. */
export function enabledFor(document: vscode.TextDocument, settings: SqueezeSettings): boolean {
  if (!settings.enabledLanguages.includes(document.languageId)) return false;
  const perLanguage = vscode.workspace.getConfiguration(SETTINGS_SECTION, {
    languageId: document.languageId,
    uri: document.uri,
  });
  return perLanguage.get<boolean>(KEYS.enable, true) === true;
}
