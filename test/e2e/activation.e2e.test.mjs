// The extension installs from its VSIX into a real VS Code (code-server), activates on startup,
// shows its status bar item, and its "Squeeze: Show Logs" command shows the activation line.
// Run through `npm run test:e2e` (which builds the VSIX and installs code-server first).
//   SQUEEZE_E2E_VSIX=/path/to.vsix  tests another VSIX (used to check that this test can fail)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  PACKAGE,
  STATUS_ITEM_ID,
  startVSCode,
  updateUserSettings,
  diagnoseFailure,
  openFile,
  readStatusBar,
  statusItem,
  runCommand,
  readOutputPanel,
  screenshot,
  waitUntil,
  vsixPath,
  activationErrors,
} from './harness.mjs';

const ACTIVATED = `Squeeze ${PACKAGE.version} activated`;
let vsc;

before(async () => {
  // This sandbox points squeeze.modelPath at a folder without a model (machine settings: code-server
  // is a remote window), so the "no model" state is exercised; the shipped model is tested in
  // completion.e2e.test.mjs.
  vsc = await startVSCode({
    vsix: process.env.SQUEEZE_E2E_VSIX || vsixPath(),
    setup: (sb) => updateUserSettings(sb, { 'squeeze.modelPath': join(sb.dir, 'no-model-here') }, 'Machine'),
  });
});

after(async () => {
  await vsc?.close();
});

const diagnose = (name, err) => diagnoseFailure(vsc, name, err);

test('the Squeeze status bar item appears after opening a file', { timeout: 120_000 }, async () => {
  const { page } = vsc;
  try {
    await openFile(page, 'src/main.ts');
    // onStartupFinished fires some seconds after the workbench appears; 60 s is generous. An
    // activation error in the extension host's log ends the wait at once.
    const item = statusItem(page);
    await waitUntil(
      async () => {
        const err = activationErrors(vsc.sb);
        if (err) throw Object.assign(new Error(`the extension failed to activate:\n${err}`), { fatal: true });
        return item.isVisible();
      },
      { timeout: 60_000, what: `a visible status bar item #${STATUS_ITEM_ID}` },
    ).catch(async (e) => {
      const items = await readStatusBar(page).catch(() => []);
      throw new Error(`${e.message}\nstatus bar items: ${JSON.stringify(items)}`);
    });
    const shown = (await readStatusBar(page)).find((i) => i.id === STATUS_ITEM_ID);
    assert.ok(shown, 'status bar item is in the DOM');
    assert.ok(shown.visible, 'status bar item is visible');
    assert.match(shown.text, /Squeeze/, 'its text names Squeeze');
    assert.match(shown.label, /Squeeze/, 'its accessible name names Squeeze');
    assert.ok(
      await page.locator('.tabs-container .tab.active', { hasText: 'main.ts' }).isVisible(),
      'src/main.ts is the active editor',
    );
    console.log(`screenshot: ${await screenshot(page, 'activation-status-bar')}`);
  } catch (e) {
    await diagnose('activation-status-bar', e);
  }
});

test('"Squeeze: Show Logs" shows the activation line', { timeout: 120_000 }, async () => {
  const { page } = vsc;
  try {
    await runCommand(page, 'Squeeze: Show Logs');
    const text = await waitUntil(
      async () => {
        const err = activationErrors(vsc.sb);
        if (err) throw Object.assign(new Error(`the extension failed to activate:\n${err}`), { fatal: true });
        const t = await readOutputPanel(page);
        return t.includes(ACTIVATED) && t;
      },
      { timeout: 30_000, what: `"${ACTIVATED}" in the output panel` },
    ).catch(async (e) => {
      throw new Error(`${e.message}; panel shows: ${JSON.stringify(await readOutputPanel(page).catch(() => ''))}`);
    });
    assert.match(text, new RegExp(`\\[info\\] ${ACTIVATED.replace(/\./g, '\\.')}`));
    console.log(`screenshot: ${await screenshot(page, 'activation-show-logs')}`);
  } catch (e) {
    await diagnose('activation-show-logs', e);
  }
});

test('without a model the status bar says so, and a click offers to select one', { timeout: 120_000 }, async () => {
  const { page } = vsc;
  try {
    // squeeze.modelPath points at a folder without config.json: the extension must say "no model",
    // not fail.
    const item = statusItem(page);
    await waitUntil(async () => /no model/.test((await item.textContent()) ?? ''), {
      timeout: 30_000,
      what: 'the "no model" status',
    });
    await item.click();
    const picker = page.locator('.quick-input-widget');
    await picker.waitFor({ timeout: 30_000 });
    await waitUntil(
      async () => {
        const rows = await picker.locator('.monaco-list-row').allTextContents();
        return (
          rows.some((r) => r.includes('Browse for a model folder…')) &&
          rows.some((r) => r.includes('Browse for a GGUF file')) &&
          rows.some((r) => r.includes('Download from Hugging Face…'))
        );
      },
      { timeout: 30_000, what: 'the model picker with folder, GGUF and download entries' },
    );
    console.log(`screenshot: ${await screenshot(page, 'activation-no-model-picker')}`);
    await page.keyboard.press('Escape');
    await picker.waitFor({ state: 'hidden', timeout: 10_000 });
  } catch (e) {
    await diagnose('activation-no-model', e);
  }
});
