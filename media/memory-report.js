// Memory report webview script: swaps in the HTML the extension renders (no flicker on updates)
// and sends the toolbar's buttons back as messages. Loaded with a nonce under a strict CSP.
(function () {
  const vscode = acquireVsCodeApi();
  const root = document.getElementById('report');
  window.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg && msg.type === 'render' && typeof msg.html === 'string') root.innerHTML = msg.html;
  });
  for (const button of document.querySelectorAll('button[data-action]')) {
    button.addEventListener('click', () => vscode.postMessage({ type: button.getAttribute('data-action') }));
  }
  vscode.postMessage({ type: 'ready' });
})();
