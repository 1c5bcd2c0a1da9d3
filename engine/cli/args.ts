// A small, strict option parser for the `squeeze` subcommands: unknown flags and missing values
// are errors (a typo must not silently fall back to a default).

export class CliUsageError extends Error {
  override name = 'CliUsageError';
}

export interface OptionSpec {
  /** 'string' takes a value, 'boolean' is a switch. */
  type: 'string' | 'boolean';
  description: string;
}

export type ParsedOptions = Record<string, string | boolean | undefined>;

/** Parses `--name value`, `--name=value` and `--switch` against `spec`; no positional arguments. */
export function parseOptions(argv: string[], spec: Record<string, OptionSpec>): ParsedOptions {
  const out: ParsedOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new CliUsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const opt = spec[name];
    if (!opt) throw new CliUsageError(`unknown option --${name}`);
    if (opt.type === 'boolean') {
      if (eq !== -1) throw new CliUsageError(`--${name} takes no value`);
      out[name] = true;
    } else {
      const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || (eq === -1 && value.startsWith('--')))
        throw new CliUsageError(`--${name} needs a value`);
      out[name] = value;
    }
  }
  return out;
}

/** Reads an integer option, checking its range; `fallback` when absent. */
export function intOption(
  opts: ParsedOptions,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = opts[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    throw new CliUsageError(`--${name} must be an integer in [${min}, ${max}], got "${String(raw)}"`);
  }
  return n;
}

/** Formats the option table for a command's --help. */
export function formatHelp(usageLine: string, spec: Record<string, OptionSpec>): string {
  const rows = Object.entries(spec).map(
    ([name, o]) => `  --${(name + (o.type === 'string' ? ' <value>' : '')).padEnd(24)} ${o.description}`,
  );
  return [`Usage: ${usageLine}`, '', 'Options:', ...rows].join('\n');
}

/** A command's parsed options, or null once `--help` has printed `help` (the command then exits 0). */
export function commandOptions(argv: string[], spec: Record<string, OptionSpec>, help: string): ParsedOptions | null {
  const opts = parseOptions(argv, spec);
  if (!opts.help) return opts;
  console.log(help);
  return null;
}
