// The registry of `squeeze` subcommands. A new subcommand is one file exporting a CliCommand,
// added here.
import { infoCommand } from './info';
import { contextCommand } from './context';
import { completeCommand } from './complete';
import { batchCommand } from './batch';
import { logitsCommand } from './logits';
import { replayCommand } from './replay';

export interface CliCommand {
  summary: string;
  help: string;
  /** Runs with the arguments after the verb; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

export const COMMANDS: Record<string, CliCommand> = {
  info: infoCommand,
  context: contextCommand,
  complete: completeCommand,
  batch: batchCommand,
  logits: logitsCommand,
  replay: replayCommand,
};
