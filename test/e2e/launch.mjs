// `npm start`: VS Code (code-server) with the freshly packaged Squeeze VSIX installed and a copy
// of the fixture workspace open, for trying the extension by hand in a browser.
//   npm start                          a free port on 127.0.0.1
//   SQUEEZE_PORT=8080 npm start        a fixed port (or: node test/e2e/launch.mjs --port 8080)
//   SQUEEZE_WORKSPACE=/path npm start  open a copy of another folder instead of the fixture
// Runs until Ctrl+C / SIGTERM, then stops code-server's whole process group and deletes the
// throwaway folder (user data, extensions, workspace copy): edits to the workspace are not kept.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureCodeServer } from './install-code-server.mjs';
import { createSandbox, installExtension, startCodeServer, vsixPath, FIXTURE_WORKSPACE } from './harness.mjs';

const i = process.argv.indexOf('--port');
const port = i !== -1 ? process.argv[i + 1] : process.env.SQUEEZE_PORT;
if (port !== undefined && !/^\d+$/.test(port)) {
  console.error(`launch: bad port "${port}"`);
  process.exit(2);
}
const vsix = process.env.SQUEEZE_E2E_VSIX || vsixPath();
if (!existsSync(vsix)) {
  console.error(`launch: ${vsix} is missing: run "npm run package" (npm start does)`);
  process.exit(1);
}

const bin = ensureCodeServer();
const sb = createSandbox({
  workspace: process.env.SQUEEZE_WORKSPACE ? resolve(process.env.SQUEEZE_WORKSPACE) : FIXTURE_WORKSPACE,
  prefix: 'squeeze-launch-',
});
let server;
let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  console.log('\nSqueeze: stopping code-server and removing the temporary folder...');
  try {
    await server?.stop();
  } finally {
    sb.remove();
  }
  process.exit(code);
}
// Replaces the harness's plain handlers: those kill without a message and skip SIGTERM's grace.
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.removeAllListeners(sig);
  process.on(sig, () => void shutdown(code));
}

try {
  console.log(installExtension(bin, sb, vsix).split('\n').pop());
  server = await startCodeServer(bin, sb, { port });
} catch (e) {
  console.error(`launch: ${e.message}`);
  await shutdown(1);
}
console.log(`Squeeze is running in VS Code at ${server.url}`);
console.log(`  workspace: ${sb.workspace} (a temporary copy)`);
console.log(`  logs:      ${sb.userData}/logs, ${sb.serverLog}`);
console.log('  Ctrl+C to stop.');
// `npm start` runs us under `sh -c "npm run package && node launch.mjs"`: a SIGTERM to npm kills
// npm and sh but never reaches us. Being re-parented means whoever started us is gone: stop too.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown(143);
}, 1000);
// Stay alive until a signal; notice if code-server dies on its own.
const timer = setInterval(async () => {
  try {
    await fetch(`${server.base}/healthz`, { signal: AbortSignal.timeout(5000) });
  } catch {
    console.error('launch: code-server stopped answering /healthz');
    clearInterval(timer);
    await shutdown(1);
  }
}, 10_000);
