// The memory report webview: per-layer KV bytes by tier and the last requests' history, rendered
// by report-html.ts and pushed to the page as it changes. Assets come from media/ only, under a CSP
// that allows no remote resource, no inline style and only the nonce'd script.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { EngineHost } from './engine-host';
import { renderReport } from './report-html';

export class MemoryReportPanel implements vscode.Disposable {
  private static current: MemoryReportPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private pending: NodeJS.Timeout | undefined;

  static show(context: vscode.ExtensionContext, engine: EngineHost): MemoryReportPanel {
    if (MemoryReportPanel.current) {
      MemoryReportPanel.current.panel.reveal();
      void MemoryReportPanel.current.refresh();
      return MemoryReportPanel.current;
    }
    const media = vscode.Uri.joinPath(context.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      'squeeze.memoryReport',
      'Squeeze: KV Memory',
      vscode.ViewColumn.Beside,
      {
        enableScripts: true,
        localResourceRoots: [media],
        retainContextWhenHidden: false,
      },
    );
    MemoryReportPanel.current = new MemoryReportPanel(panel, media, engine);
    return MemoryReportPanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    media: vscode.Uri,
    private readonly engine: EngineHost,
  ) {
    const web = panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const css = web.asWebviewUri(vscode.Uri.joinPath(media, 'memory-report.css'));
    const js = web.asWebviewUri(vscode.Uri.joinPath(media, 'memory-report.js'));
    web.html = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${web.cspSource}; style-src ${web.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="${css.toString()}"><title>Squeeze: KV Memory</title></head>
<body><div class="toolbar"><button data-action="refresh">Refresh</button><button data-action="clearCache">Clear KV cache</button></div>
<main id="report">Loading…</main><script nonce="${nonce}" src="${js.toString()}"></script></body></html>`;
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      web.onDidReceiveMessage(async (m: { type?: string }) => {
        if (m.type === 'clearCache') await engine.clearCache();
        await this.refresh();
      }),
      // Throttled: a typing burst changes the state on every request.
      engine.onDidChange(() => {
        this.pending ??= setTimeout(() => {
          this.pending = undefined;
          void this.refresh();
        }, 500);
      }),
    );
  }

  async refresh(): Promise<void> {
    const report = await this.engine.report();
    await this.panel.webview.postMessage({
      type: 'render',
      html: renderReport(this.engine.state, report, this.engine.history),
    });
  }

  dispose(): void {
    MemoryReportPanel.current = undefined;
    clearTimeout(this.pending);
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
  }
}
