// Typed view of the `squeeze.*` settings contributed in package.json.
import * as vscode from 'vscode';

export const SETTINGS_SECTION = 'squeeze';

export interface SqueezeSettings {
  enable: boolean;
}

export function readSettings(): SqueezeSettings {
  const c = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  return { enable: c.get<boolean>('enable', true) };
}
