// Test helpers: temporary repositories from a { path: content } map, and a recording logger.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ContextLogger } from '../../../engine/context/types';

export function makeRepo(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), 'squeeze-ctx-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

export function removeRepo(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

export class RecordingLogger implements ContextLogger {
  readonly lines: string[] = [];
  info(m: string): void {
    this.lines.push('info ' + m);
  }
  warn(m: string): void {
    this.lines.push('warn ' + m);
  }
  find(re: RegExp): string | undefined {
    return this.lines.find((l) => re.test(l));
  }
}
