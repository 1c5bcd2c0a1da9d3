// The engine's version, injected by esbuild from package.json (falls back for unbundled runs).
declare const __SQUEEZE_VERSION__: string | undefined;
export const SQUEEZE_VERSION: string = typeof __SQUEEZE_VERSION__ === 'string' ? __SQUEEZE_VERSION__ : '0.0.0-dev';
