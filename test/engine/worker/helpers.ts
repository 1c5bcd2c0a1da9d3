// The engine worker's TypeScript source: EngineClient loads it through tsx in tests, so they run
// the current code without a build.
import { join } from 'node:path';

export const WORKER_SOURCE = join(__dirname, '..', '..', '..', 'engine', 'worker', 'engine-worker.ts');
