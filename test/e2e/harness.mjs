// Reusable pieces for driving a real VS Code (code-server 4.100.3 = VS Code 1.100.3) with
// chromium through playwright-core. Used by the e2e tests (test/e2e/*.e2e.test.mjs) and by
// `npm start` (launch.mjs).
//
// Each run gets a throwaway folder with its own user data, extensions dir and a copy of the
// fixture workspace, so tests never see each other's state and never touch ~/.vscode*.
// code-server runs in its own process group (detached = setsid) so the whole tree (server,
// extension host, pty host, file watcher) is killed at once. Everything listens on and talks to
// 127.0.0.1 only: the settings switch off VS Code's online features and chromium resolves
// no host but loopback.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURE_WORKSPACE = join(REPO, 'test', 'fixtures', 'workspace');
export const RESULTS_DIR = join(REPO, 'test-results', 'e2e');
export const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
/** The status bar item's id as the extension creates it (extension/status-bar.ts). VS Code puts
 *  `<publisher>.<name>.<id>` in the item's DOM id. */
export const STATUS_ITEM_ID = `${PACKAGE.publisher}.${PACKAGE.name}.squeeze.status`;

/** The VSIX that `npm run package` writes for this machine. */
export function vsixPath(target = 'linux-x64') {
  return join(REPO, `${PACKAGE.name}-${PACKAGE.version}-${target}.vsix`);
}

/** VS Code user settings for tests (docs/platform-notes.md §6), plus switches for VS Code's online features,
 *  so nothing but loopback traffic happens. */
export const TEST_SETTINGS = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'editor.autoClosingBrackets': 'never',
  'editor.quickSuggestions': { other: false, comments: false, strings: false },
  'editor.inlineSuggest.enabled': true,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'telemetry.telemetryLevel': 'off',
  'workbench.enableExperiments': false,
  'workbench.settings.enableNaturalLanguageSearch': false,
  'typescript.disableAutomaticTypeAcquisition': true, // would query the npm registry for @types
  'npm.fetchOnlinePackageInfo': false,
  'git.enabled': false,
  'workbench.tips.enabled': false,
  'chat.commandCenter.enabled': false,
};

const log = (msg) => console.error(`[e2e] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Safety net: whatever a test forgets (a timeout, an exception, Ctrl+C) is cleaned up at exit.
const live = new Set(); // { pgid?, dir? }
function cleanupAllSync() {
  for (const item of live) {
    if (item.pgid) {
      try {
        process.kill(-item.pgid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (item.dir) rmSync(item.dir, { recursive: true, force: true });
  }
  live.clear();
}
process.on('exit', cleanupAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    cleanupAllSync();
    process.exit(128 + { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[sig]);
  });
}

/** A free TCP port on 127.0.0.1 (or `preferred` if given). */
export async function freePort(preferred) {
  if (preferred) return Number(preferred);
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/**
 * Creates the throwaway folder: user data with settings.json, an extensions dir, a copy of the
 * workspace. `remove()` deletes it.
 */
export function createSandbox({ workspace = FIXTURE_WORKSPACE, settings = {}, prefix = 'squeeze-e2e-' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const entry = { dir };
  live.add(entry);
  const sb = {
    dir,
    userData: join(dir, 'user-data'),
    extensions: join(dir, 'extensions'),
    // Named after the fixture's package so the explorer shows a realistic folder name.
    workspace: join(dir, workspaceName(workspace)),
    serverLog: join(dir, 'code-server.log'),
    config: join(dir, 'code-server-config.yaml'),
    remove() {
      rmSync(dir, { recursive: true, force: true });
      live.delete(entry);
    },
  };
  mkdirSync(join(sb.userData, 'User'), { recursive: true });
  mkdirSync(sb.extensions, { recursive: true });
  writeFileSync(join(sb.userData, 'User', 'settings.json'), JSON.stringify({ ...TEST_SETTINGS, ...settings }, null, 2));
  // code-server's own config (would otherwise be created in ~/.config/code-server with a password).
  writeFileSync(sb.config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  cpSync(workspace, sb.workspace, { recursive: true });
  return sb;
}

function workspaceName(workspace) {
  try {
    return JSON.parse(readFileSync(join(workspace, 'package.json'), 'utf8')).name || basename(workspace);
  } catch {
    return basename(workspace);
  }
}

/** The environment code-server runs with: no VS Code variables from an outer editor (a set
 *  VSCODE_IPC_HOOK_CLI makes the CLI talk to that editor instead), XDG dirs in the sandbox. */
function serverEnv(sb) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VSCODE_|ELECTRON_|CODE_SERVER_)/.test(k)) env[k] = v;
  env.XDG_CONFIG_HOME = join(sb.dir, 'xdg-config');
  env.XDG_DATA_HOME = join(sb.dir, 'xdg-data');
  env.XDG_CACHE_HOME = join(sb.dir, 'xdg-cache');
  return env;
}

/** `code-server --install-extension <vsix> --force` into the sandbox's extensions dir. */
export function installExtension(bin, sb, vsix = vsixPath()) {
  if (!existsSync(vsix)) throw new Error(`VSIX not found: ${vsix} (run "npm run package")`);
  const r = spawnSync(
    bin,
    [
      '--config',
      sb.config,
      '--user-data-dir',
      sb.userData,
      '--extensions-dir',
      sb.extensions,
      '--install-extension',
      vsix,
      '--force',
    ],
    {
      env: serverEnv(sb),
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 || !/successfully installed/i.test(out))
    throw new Error(`installing ${basename(vsix)} failed (exit ${r.status ?? r.signal}):\n${out}`);
  return out.trim();
}

/**
 * Starts code-server on 127.0.0.1 in its own process group and waits for /healthz.
 * Returns { port, url (workbench URL with the workspace open), stop() }.
 */
export async function startCodeServer(bin, sb, { port, timeoutMs = 60_000 } = {}) {
  port = await freePort(port);
  const out = openSync(sb.serverLog, 'a');
  const child = spawn(
    bin,
    [
      '--config',
      sb.config,
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--user-data-dir',
      sb.userData,
      '--extensions-dir',
      sb.extensions,
      sb.workspace,
    ],
    { detached: true, stdio: ['ignore', out, out], env: serverEnv(sb) },
  );
  closeSync(out);
  const entry = { pgid: child.pid };
  live.add(entry);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });

  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!live.has(entry)) return;
    // The whole group: code-server, its server process, extension host(s), pty host, watchers.
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    for (let i = 0; i < 40 && groupAlive(child.pid); i++) await sleep(125);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    live.delete(entry);
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      const tail = readTail(sb.serverLog);
      await stop();
      throw new Error(`code-server exited early (${JSON.stringify(exited)}):\n${tail}`);
    }
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer ${base}/healthz within ${timeoutMs} ms:\n${readTail(sb.serverLog)}`);
    }
    await sleep(250);
  }
  return { port, base, url: `${base}/?folder=${encodeURI(sb.workspace)}`, pgid: child.pid, stop };
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function readTail(file, chars = 4000) {
  try {
    const s = readFileSync(file, 'utf8');
    return s.slice(-chars);
  } catch {
    return '(no log)';
  }
}

/** Headless Debian chromium via playwright-core (the playwright browser download can't work
 *  offline). With a sandbox, chromium's own files (crash reports in ~/.config/chromium) go there. */
export async function launchBrowser(sb) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    env: sb
      ? {
          ...process.env,
          HOME: join(sb.dir, 'browser-home'),
          XDG_CONFIG_HOME: join(sb.dir, 'xdg-config'),
          XDG_CACHE_HOME: join(sb.dir, 'xdg-cache'),
        }
      : process.env,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
      '--disable-breakpad',
      // Loopback only: any other host fails to resolve instead of leaving the machine.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
  });
}

/** Opens the workbench URL in a new page and waits until it is usable. */
export async function openWorkbench(browser, server, { viewport = { width: 1280, height: 800 } } = {}) {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(30_000);
  await page.goto(server.url);
  await waitForWorkbench(page);
  return page;
}

/** The workbench is up when its frame, the status bar and the explorer's first rows are shown. */
export async function waitForWorkbench(page, timeout = 60_000) {
  await page.waitForSelector('.monaco-workbench', { timeout });
  await page.waitForSelector('.part.statusbar', { timeout });
  await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout });
}

/**
 * Opens a workspace file by clicking through the explorer (expanding folders on the way), then
 * waits for its tab to be active. (Quick Open is avoided: its file search can keep spinning.)
 */
export async function openFile(page, relPath, timeout = 30_000) {
  const parts = relPath.split('/');
  for (let i = 0; i < parts.length; i++) {
    const row = page
      .locator(`.explorer-folders-view .monaco-list-row[aria-level="${i + 1}"]`)
      .filter({
        has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(parts[i])}$`) }),
      })
      .first();
    await row.waitFor({ timeout });
    const last = i === parts.length - 1;
    if (!last) {
      if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
    } else {
      await row.click();
    }
  }
  const name = parts[parts.length - 1];
  await page.locator('.tabs-container .tab.active', { hasText: name }).first().waitFor({ timeout });
  await page.waitForSelector('.editor-group-container .monaco-editor .view-lines .view-line', { timeout });
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every status bar item: { id, text, label (aria-label), tooltip? } in DOM order. */
export async function readStatusBar(page) {
  return page.$$eval('.part.statusbar .statusbar-item', (els) =>
    els.map((e) => ({
      id: e.id,
      text: (e.textContent ?? '').trim(),
      label: e.querySelector('a')?.getAttribute('aria-label') ?? e.getAttribute('aria-label') ?? '',
      visible: e.offsetParent !== null && !e.classList.contains('hidden'),
    })),
  );
}

/** Locator of one extension status bar item by its id (see STATUS_ITEM_ID). */
export function statusItem(page, id = STATUS_ITEM_ID) {
  return page.locator(`.part.statusbar .statusbar-item[id="${id}"]`);
}

/** The Squeeze status bar item's text ('' while it is not shown), read without waiting. */
export async function squeezeStatusText(page) {
  return (await readStatusBar(page)).find((i) => i.id === STATUS_ITEM_ID)?.text ?? '';
}

/**
 * Waits until the model has loaded (the item reads "Squeeze · CPU"). An activation error or a
 * status bar showing a failure ends the wait at once, with the reason.
 */
export async function waitForModelLoaded(vsc, page, timeout = 90_000) {
  await waitUntil(
    async () => {
      const err = activationErrors(vsc.sb);
      if (err) throw Object.assign(new Error(`the extension failed to activate:\n${err}`), { fatal: true });
      const t = await squeezeStatusText(page);
      if (/error|no model/.test(t))
        throw Object.assign(new Error(`the status bar shows a failure: ${t}`), { fatal: true });
      return /Squeeze · CPU/.test(t);
    },
    { timeout, what: 'the model to load (status bar "Squeeze · CPU")' },
  );
}

/** Runs a command from the command palette (F1, type its title, Enter). */
export async function runCommand(page, title, timeout = 30_000) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  // The palette can close between opening and typing when focus moves (a fresh clone saw it hidden
  // for 30 s after F1): open it again, as a user would, up to three times.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ timeout });
      await input.fill(`>${title}`, { timeout: 5_000 });
      break;
    } catch (e) {
      if (attempt === 3) throw e;
    }
  }
  // Wait for the exact entry to be listed and focused before Enter, so a slow filter can't run another.
  await page
    .locator('.quick-input-widget .quick-input-list .monaco-list-row.focused', { hasText: title })
    .first()
    .waitFor({ timeout });
  await page.keyboard.press('Enter');
  // The palette is done when its widget hides, or when the command reuses the widget for its own
  // quick pick (Select Model…): the input then no longer holds the '>' command query. Waiting for
  // hidden alone raced with a quick pick that opened before the hidden state was seen.
  await page.waitForFunction(
    () => {
      const widget = document.querySelector('.quick-input-widget');
      const input = widget?.querySelector('.quick-input-box input');
      return !widget || getComputedStyle(widget).display === 'none' || !(input?.value ?? '').startsWith('>');
    },
    null,
    { timeout },
  );
}

/** The editor's rendered lines, top to bottom, without ghost text: the document as shown. */
export function editorLines(page) {
  return page.$$eval('.editor-group-container .monaco-editor .view-lines .view-line', (els) =>
    els
      .map((e) => {
        const copy = e.cloneNode(true);
        for (const g of copy.querySelectorAll('.ghost-text-decoration, .ghost-text, .ghost-text-decoration-preview'))
          g.remove();
        return { top: parseFloat(e.style.top) || 0, text: (copy.textContent ?? '').replace(/\u00a0/g, ' ') };
      })
      .sort((a, b) => a.top - b.top)
      .map((l) => l.text),
  );
}

/**
 * The ghost text on screen: `inline`, the part shown on the cursor's line (VS Code's
 * .ghost-text-decoration), and `below`, the lines it adds under it; '' and [] when none shows.
 */
export function ghostText(page) {
  return page.evaluate(() => {
    const clean = (t) => (t ?? '').replace(/\u00a0/g, ' ');
    const editor = document.querySelector('.editor-group-container .monaco-editor');
    const inline = [...(editor?.querySelectorAll('.view-lines .ghost-text-decoration') ?? [])]
      .map((e) => clean(e.textContent))
      .join('');
    const below = [...(editor?.querySelectorAll('.view-zones .ghost-text .view-line, .view-zones .ghost-text') ?? [])]
      .filter((e) => e.classList.contains('view-line') || !e.querySelector('.view-line'))
      .map((e) => clean(e.textContent));
    return { inline, below };
  });
}

/** Text of the panel's visible output view (Output channel shown by e.g. squeeze.showLogs). */
export async function readOutputPanel(page) {
  return page.$$eval('.part.panel .output-view .monaco-editor .view-lines .view-line', (els) =>
    els.map((e) => (e.textContent ?? '').replace(/\u00a0/g, ' ')).join('\n'),
  );
}

/** Polls `fn` until it returns a truthy value, or throws with `what` after `timeout` ms. An error
 *  thrown by `fn` is retried, unless it has `fatal: true`. */
export async function waitUntil(fn, { timeout = 30_000, interval = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeout} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    await sleep(interval);
  }
}

/** Saves a screenshot to test-results/e2e/<name>.png and returns the path. */
export async function screenshot(page, name) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The extension host's logs (remote exthost log and every output channel) plus code-server's
 *  own log, as one string, for a failing test's output. */
export function extensionHostLogs(sb, chars = 20_000) {
  const parts = [];
  const logsRoot = join(sb.userData, 'logs');
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.log') && /exthost/.test(relative(logsRoot, p))) parts.push(p);
    }
  };
  if (existsSync(logsRoot)) walk(logsRoot);
  let text = '';
  for (const p of parts.sort())
    text += `\n----- ${relative(sb.dir, p)} (${statSync(p).size} bytes)\n${readFileSync(p, 'utf8').slice(-chars)}`;
  text += `\n----- code-server.log\n${readTail(sb.serverLog, chars)}`;
  return text;
}

/** The extension host's "Activating extension <id> failed" lines (with the error after them),
 *  or '' while there are none: lets a test fail at once instead of waiting out its timeout. */
export function activationErrors(sb, extensionId = `${PACKAGE.publisher}.${PACKAGE.name}`) {
  const logsRoot = join(sb.userData, 'logs');
  if (!existsSync(logsRoot)) return '';
  const found = [];
  for (const session of readdirSync(logsRoot)) {
    const sessionDir = join(logsRoot, session);
    if (!statSync(sessionDir).isDirectory()) continue;
    for (const host of readdirSync(sessionDir).filter((d) => d.startsWith('exthost'))) {
      const file = join(sessionDir, host, 'remoteexthost.log');
      if (!existsSync(file)) continue;
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((l, i) => {
        if (l.includes(`Activating extension ${extensionId} failed`)) found.push(lines.slice(i, i + 3).join('\n'));
      });
    }
  }
  return found.join('\n');
}

/** Also keeps a copy of the logs next to the screenshots, for CI artifacts. */
export function saveLogs(sb, name) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.log`);
  writeFileSync(path, extensionHostLogs(sb));
  return path;
}

/** Merges `settings` into the sandbox's user settings.json, or with `target` 'Machine' into
 *  code-server's machine ("Remote") settings: VS Code applies machine-scoped settings (a folder
 *  on the machine that runs the extension) from there, not from the user's. */
export function updateUserSettings(sb, settings, target = 'User') {
  const file = join(sb.userData, target, 'settings.json');
  mkdirSync(dirname(file), { recursive: true });
  const current = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, JSON.stringify({ ...current, ...settings }, null, 2));
}

/**
 * Everything at once: sandbox + VSIX install + code-server + chromium on the workbench.
 * `setup(sb)` runs after the sandbox is made and before VS Code starts.
 * Returns { sb, server, browser, page, close() }; close() always kills and removes everything.
 */
export async function startVSCode({ bin, vsix = vsixPath(), workspace, settings, port, setup } = {}) {
  const t0 = Date.now();
  const sb = createSandbox({ workspace, settings });
  // A test's own files in the throwaway folder (a model, more settings) before VS Code starts.
  if (setup) await setup(sb);
  let server, browser;
  const close = async () => {
    try {
      await browser?.close();
    } catch {
      /* already gone */
    }
    try {
      await server?.stop();
    } finally {
      sb.remove();
    }
  };
  try {
    if (!bin) bin = (await import('./install-code-server.mjs')).ensureCodeServer();
    if (vsix) log(installExtension(bin, sb, vsix).split('\n').pop());
    server = await startCodeServer(bin, sb, { port });
    log(`code-server up at ${server.base} after ${Date.now() - t0} ms`);
    browser = await launchBrowser(sb);
    const page = await openWorkbench(browser, server);
    log(`workbench ready after ${Date.now() - t0} ms`);
    return { sb, server, browser, page, close };
  } catch (e) {
    try {
      console.error(extensionHostLogs(sb));
    } catch {
      /* best effort */
    }
    await close();
    throw e;
  }
}

/** On a test's failure: a screenshot and the extension host's logs in test-results/e2e, then rethrow. */
export async function diagnoseFailure(vsc, name, err) {
  if (!vsc) throw err;
  try {
    console.error(`screenshot: ${await screenshot(vsc.page, `${name}-failure`)}`);
  } catch {
    /* page gone */
  }
  console.error(`logs: ${saveLogs(vsc.sb, `${name}-failure`)}`);
  console.error(extensionHostLogs(vsc.sb, 6000));
  throw err;
}
