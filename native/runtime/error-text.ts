// An error as one line for a log or a wrapped message: onnxruntime's messages run over several.

/** The first non-blank line of an error's message. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n').find((l) => l.trim()) ?? msg;
}
