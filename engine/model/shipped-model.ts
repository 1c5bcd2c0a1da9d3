/** The default model shipped in models/ (the extension's and the command line's default). */
export const SHIPPED_MODEL_NAME = 'squeeze-coder-4m';
