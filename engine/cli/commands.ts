// The registry of `squeeze` subcommands. A new subcommand is one file exporting a CliCommand,
// added here.
import { infoCommand } from './info';

export interface CliCommand {
  summary: string;
  help: string;
  /** Runs with the arguments after the verb; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

export const COMMANDS: Record<string, CliCommand> = {
  info: infoCommand,
};
