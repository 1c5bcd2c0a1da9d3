// Where the shipped default model lies beside the command line: models/ at the package root, one
// folder up from dist/cli.js or two from engine/cli/ when run from source.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliUsageError } from './args';

import { SHIPPED_MODEL_NAME } from '../model/shipped-model';

export function shippedModelDir(): string {
  for (const up of ['..', join('..', '..')]) {
    const dir = join(__dirname, up, 'models', SHIPPED_MODEL_NAME);
    if (existsSync(join(dir, 'config.json'))) return dir;
  }
  throw new CliUsageError(
    `the shipped model models/${SHIPPED_MODEL_NAME} is not beside the command line: give --model`,
  );
}
