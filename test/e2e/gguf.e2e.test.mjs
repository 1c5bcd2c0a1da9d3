// A GGUF model picked in "Squeeze: Select Model…" in a real VS Code (code-server): the quick pick
// lists the GGUF file found in the workspace's models/ folder, the extension loads it, completes with
// it, and says how its weights are held in the status bar's tooltip and in the memory report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  REPO,
  startVSCode,
  diagnoseFailure,
  openFile,
  statusItem,
  runCommand,
  screenshot,
  waitUntil,
  squeezeStatusText,
  waitForModelLoaded,
} from './harness.mjs';

const GGUF = 'squeeze-coder-4m.Q8_0.gguf';
let vsc;

before(async () => {
  vsc = await startVSCode({
    setup: (sb) => {
      // The shipped model as a Q8_0 GGUF, written by the project's converter (tools/gguf).
      mkdirSync(join(sb.workspace, 'models'), { recursive: true });
      execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          'tools/gguf/convert.ts',
          '--model',
          'models/squeeze-coder-4m',
          '--type',
          'Q8_0',
          '--out',
          join(sb.workspace, 'models', GGUF),
        ],
        { cwd: REPO, stdio: 'ignore' },
      );
    },
  });
});

after(async () => {
  await vsc?.close();
});

test('Select Model offers the GGUF file, the extension loads it, completes, and shows its weight precision', {
  timeout: 240_000,
}, async () => {
  const { page } = vsc;
  try {
    await openFile(page, 'src/main.ts');
    await waitForModelLoaded(vsc, page);

    await runCommand(page, 'Squeeze: Select Model…');
    const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: GGUF }).first();
    await row.waitFor({ timeout: 30_000 });
    console.log(`screenshot: ${await screenshot(page, 'gguf-select-model')}`);
    await row.click();
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });

    // The new model loads: the tooltip names the file and how its weights are held.
    const item = statusItem(page);
    const tooltip = await waitUntil(
      async () => {
        if (!/Squeeze · CPU/.test(await squeezeStatusText(page))) return false;
        await item.hover();
        const hover = page.locator('.monaco-hover, .workbench-hover').first();
        const text = (await hover.textContent({ timeout: 2000 }).catch(() => '')) ?? '';
        await page.mouse.move(0, 0);
        return text.includes(GGUF) && /weights|quantization/.test(text) && text;
      },
      { timeout: 90_000, interval: 1000, what: `the status bar tooltip naming ${GGUF}` },
    );
    console.log(`tooltip: ${tooltip.replace(/\s+/g, ' ').slice(0, 300)}`);
    assert.match(tooltip, /the file's own 8-bit quantization, [\d.]+ MiB/);

    // It completes.
    await page.click('.editor-group-container .monaco-editor .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('const total = ', { delay: 40 });
    await waitUntil(async () => (await page.$$('.monaco-editor .view-lines .ghost-text-decoration')).length > 0, {
      timeout: 90_000,
      what: 'ghost text from the GGUF model',
    });
    console.log(`screenshot: ${await screenshot(page, 'gguf-ghost-text')}`);

    // The memory report says the same.
    await runCommand(page, 'Squeeze: Show KV Memory Report');
    const frameText = await waitUntil(
      async () => {
        for (const f of page.frames()) {
          const t = await f.$eval('p.state', (e) => e.textContent).catch(() => null);
          if (t && t.includes(GGUF)) return t;
        }
        return null;
      },
      { timeout: 30_000, what: 'the memory report naming the GGUF model' },
    );
    assert.match(frameText, /the file's own 8-bit quantization/);
    console.log(`screenshot: ${await screenshot(page, 'gguf-memory-report')}`);
  } catch (e) {
    await diagnoseFailure(vsc, 'gguf-select-model', e);
  }
});
