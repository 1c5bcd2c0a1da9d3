// Installs code-server 4.100.3 (VS Code 1.100.3) into a cache folder outside the repo, for the
// real-VS-Code e2e tests and `npm start`. Idempotent: a marker file is written only after a
// successful `code-server --version`, so an install that was interrupted is wiped and redone.
//
//   node test/e2e/install-code-server.mjs          install if needed, print the binary's path
//   SQUEEZE_E2E_CACHE=/some/dir node ...           cache root (default ~/.cache/squeeze-e2e)
//
// Why this recipe (docs/platform-notes.md, Appendix A): a plain `npm install code-server` cannot work
// offline: newer versions need Node 22+/24, and the postinstall scripts download ripgrep and
// node headers. 4.100.3 is the last version that runs on Node 20. The 5 steps below are the
// verified offline recipe, with checks that the native builds it depends on really happened
// (npm 11 can skip install scripts with an "allowScripts" warning and still exit 0).
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  rmSync,
  writeFileSync,
  readFileSync,
  copyFileSync,
  chmodSync,
  readdirSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CODE_SERVER_VERSION = '4.100.3';
const MARKER = '.squeeze-e2e-installed';
// Step 1's Debian packages: kerberos/keytar/native-keymap headers for the native modules,
// ripgrep (VS Code's search; its npm package would download it), chromium (the browser side).
const APT_PACKAGES = [
  'libkrb5-dev',
  'libxkbfile-dev',
  'libsecret-1-dev',
  'libx11-dev',
  'pkg-config',
  'ripgrep',
  'chromium',
];
// Needed to compile native modules; present on our machines, but cheap to check on a bare one.
const BUILD_PACKAGES = { make: 'make', 'g++': 'g++', python3: 'python3' };

export function cacheRoot() {
  return resolve(process.env.SQUEEZE_E2E_CACHE || join(homedir(), '.cache', 'squeeze-e2e'));
}
export function installDir() {
  return join(cacheRoot(), `code-server-${CODE_SERVER_VERSION}`);
}
export function codeServerBin(dir = installDir()) {
  return join(dir, 'node_modules', '.bin', 'code-server');
}

const t0 = Date.now();
const log = (msg) => console.log(`[install-code-server +${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}`);

function run(cmd, args, { cwd, env = {}, capture = false } = {}) {
  log(
    `$ ${Object.entries(env)
      .map(([k, v]) => `${k}=${v} `)
      .join('')}${cmd} ${args.join(' ')}${cwd ? `   (in ${cwd})` : ''}`,
  );
  const r = spawnSync(cmd, args, {
    cwd,
    // This project's .npmrc sets ignore-scripts, and npm hands it to child processes as
    // npm_config_ignore_scripts: the native rebuilds below need their scripts.
    env: { ...process.env, npm_config_ignore_scripts: 'false', ...env },
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) {
    if (capture) process.stderr.write(`${r.stdout}\n${r.stderr}\n`);
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  }
  return capture ? `${r.stdout}${r.stderr}` : '';
}

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const dpkgHas = (pkg) =>
  spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed');

/** Step 1: Debian packages (only the missing ones; apt-get update first, as our machines need). */
export function ensureAptPackages() {
  const missing = APT_PACKAGES.filter((p) => !dpkgHas(p));
  for (const [bin, pkg] of Object.entries(BUILD_PACKAGES)) if (!has(bin)) missing.push(pkg);
  if (!existsSync('/usr/bin/chromium') && !missing.includes('chromium')) missing.push('chromium');
  if (missing.length === 0) return;
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  if (sudo.length && !has('sudo')) throw new Error(`need root to apt-get install ${missing.join(' ')}`);
  log(`step 1/5: apt-get install ${missing.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  run(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), 'update'], { env });
  run(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), 'install', '-y', ...missing], { env });
  if (!existsSync('/usr/bin/chromium')) throw new Error('/usr/bin/chromium is still missing after apt-get install');
}

/** Native modules whose compiled output the server needs; absent = a skipped install script. */
function checkNativeBuilt(vscodeDir) {
  const want = [
    'node_modules/node-pty/build/Release/pty.node', // terminals
    'node_modules/@vscode/spdlog/build/Release/spdlog.node', // logging
    'node_modules/kerberos/build/Release/kerberos.node', // loaded at server start
    // @parcel/watcher's script only builds when its prebuilt optional package is missing.
    `node_modules/@parcel/watcher-linux-${process.arch}-glibc/watcher.node`, // file watching
    'node_modules/native-watchdog/build/Release/watchdog.node', // ext host watchdog
  ];
  const missing = want.filter((p) => !existsSync(join(vscodeDir, p)));
  if (missing.length)
    throw new Error(`native builds missing after npm rebuild (install scripts skipped?): ${missing.join(', ')}`);
}

function findFile(dir, name, depth = 6) {
  if (depth < 0 || !existsSync(dir)) return null;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isFile() && e.name === name) return p;
    if (e.isDirectory()) {
      const f = findFile(p, name, depth - 1);
      if (f) return f;
    }
  }
  return null;
}

function versionOk(dir) {
  const bin = codeServerBin(dir);
  if (!existsSync(bin)) return false;
  // --config and XDG_DATA_HOME: otherwise this first run writes ~/.config/code-server/config.yaml
  // and ~/.local/share/code-server/.
  const r = spawnSync(bin, ['--config', join(dir, '.version-check', 'config.yaml'), '--version'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, XDG_DATA_HOME: join(dir, '.version-check') },
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith(`${CODE_SERVER_VERSION} `));
  return r.status === 0 && line ? line.trim() : false;
}

/** A crude cross-process lock (mkdir is atomic), so two runs don't build into the same folder. */
function withLock(fn) {
  const lock = `${installDir()}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let pid = 0;
      try {
        pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        /* being created */
      }
      let alive = false;
      try {
        if (pid) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch {
        /* dead */
      }
      if (pid && !alive) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (i % 30 === 0) log(`waiting for another install (lock ${lock}, pid ${pid || '?'})`);
      spawnSync('sleep', ['2']);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Installs if needed and returns the code-server binary path. */
export function ensureCodeServer() {
  const dir = installDir();
  const bin = codeServerBin(dir);
  if (existsSync(join(dir, MARKER)) && existsSync('/usr/bin/chromium')) return bin;
  return withLock(() => {
    if (existsSync(join(dir, MARKER))) {
      ensureAptPackages();
      return bin;
    } // another process finished it
    log(`installing code-server ${CODE_SERVER_VERSION} into ${dir} (about 10 minutes on 2 cores)`);
    ensureAptPackages();

    // node-gyp would download Node's headers from the internet; point it at the local ones.
    const env = {};
    const prefix = dirname(dirname(process.execPath));
    if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi')))
      env.npm_config_nodedir = prefix;

    // Anything left from an interrupted run is untrusted: start over.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // A package.json of our own, so npm installs here and doesn't look for a parent project.
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'squeeze-e2e-code-server', private: true }, null, 2),
    );

    log('step 2/5: npm install --ignore-scripts code-server');
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', `code-server@${CODE_SERVER_VERSION}`], {
      cwd: dir,
      env: { ...env, npm_config_unsafe_perm: 'true' },
    });

    const cs = join(dir, 'node_modules', 'code-server');
    const vscodeDir = join(cs, 'lib', 'vscode');
    log('step 3/5: VS Code server dependencies, ripgrep from Debian, native rebuild');
    run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: vscodeDir, env });
    // @vscode/ripgrep's postinstall downloads rg from GitHub unless bin/ exists: use Debian's.
    const rgDir = join(vscodeDir, 'node_modules', '@vscode', 'ripgrep', 'bin');
    mkdirSync(rgDir, { recursive: true });
    copyFileSync('/usr/bin/rg', join(rgDir, 'rg'));
    chmodSync(join(rgDir, 'rg'), 0o755);
    // node-pty's install script runs `npx node-gyp`, which asks before fetching without the yes.
    run('npm', ['rebuild'], { cwd: vscodeDir, env: { ...env, npm_config_yes: 'true' } });
    checkNativeBuilt(vscodeDir);

    log("step 4/5: code-server postinstall.sh (links, built-in extensions' dependencies)");
    // The script reads the Node major from the user agent (the recipe's bare "npm" makes its
    // version test print "Illegal number" and pass by accident) and wants unsafe_perm as root.
    const agent = `npm/${spawnSync('npm', ['-v'], { encoding: 'utf8' }).stdout.trim()} node/${process.version} ${process.platform} ${process.arch}`;
    run('sh', ['postinstall.sh'], {
      cwd: cs,
      env: { ...env, npm_config_user_agent: agent, npm_config_unsafe_perm: 'true', npm_config_yes: 'true' },
    });

    log('step 5/5: npm rebuild argon2 --build-from-source');
    run('npm', ['rebuild', 'argon2', '--build-from-source'], { cwd: dir, env: { ...env, npm_config_yes: 'true' } });
    const argon = findFile(join(dir, 'node_modules', 'argon2'), 'argon2.node');
    if (!argon) throw new Error('argon2 native module missing after rebuild');

    const version = versionOk(dir);
    if (!version) throw new Error(`${bin} --version did not report ${CODE_SERVER_VERSION}`);
    writeFileSync(join(dir, MARKER), `${version}\n`);
    log(`done: ${version.split('\n').join(' ')}`);
    return bin;
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const bin = ensureCodeServer();
    console.log(`code-server ${CODE_SERVER_VERSION}: ${bin}`);
  } catch (e) {
    console.error(`install-code-server: ${e.message}`);
    process.exit(1);
  }
}
