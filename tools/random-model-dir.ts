// The random models the benchmarks run on, written once per machine by tools/make-random-model.ts
// into the temp folder (or `dir`) and reused: `randomModelDir('30m')` is the ~30M-parameter
// Qwen2-shaped model of the runtime benchmarks, '0.5b' / '1.5b' / '7b' Qwen2.5-Coder's shapes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function randomModelDir(shape: string, dir = tmpdir(), gguf: string[] = []): string {
  const out = join(dir, `squeeze-random-${shape}`);
  const missing = !existsSync(join(out, 'config.json')) || gguf.some((t) => !existsSync(`${out}.${t}.gguf`));
  if (missing) {
    const script = join(__dirname, 'make-random-model.ts');
    const extra = gguf.length ? ['--gguf', gguf.join(',')] : [];
    execFileSync(process.execPath, ['--import', 'tsx', script, '--shape', shape, '--out', out, ...extra], {
      stdio: 'inherit',
    });
  }
  return out;
}
