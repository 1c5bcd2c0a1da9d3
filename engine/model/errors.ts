// Typed errors for model loading. Each message names the file or field at fault and what to do,
// because the user sees it in a notification or on the command line.

/** The model folder or one of its files cannot be used. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** config.json asks for something the runtime does not implement. */
export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`config.json field "${field}": ${message}`);
  }
}
