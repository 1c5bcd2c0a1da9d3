// The `squeeze` command-line tool. Each subcommand lives in its own file under engine/cli/ and
// registers itself in COMMANDS; this file only parses the verb and reports errors.
import { SQUEEZE_VERSION } from '../version';
import { COMMANDS } from './commands';
import { CliUsageError } from './args';

function usage(): string {
  const lines = [
    `squeeze ${SQUEEZE_VERSION}: local code completion with a compressed KV cache`,
    '',
    'Usage: squeeze <command> [options]',
    '',
    'Commands:',
  ];
  for (const [name, cmd] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${cmd.summary}`);
  lines.push('', 'Run "squeeze <command> --help" for the options of one command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === 'help' || verb === '--help' || verb === '-h') {
    console.log(usage());
    return verb === undefined ? 1 : 0;
  }
  if (verb === '--version' || verb === '-v' || verb === 'version') {
    console.log(SQUEEZE_VERSION);
    return 0;
  }
  const cmd = COMMANDS[verb];
  if (!cmd) {
    console.error(`squeeze: unknown command "${verb}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof CliUsageError) {
      console.error(`squeeze ${verb}: ${err.message}\n\n${cmd.help}`);
      return 2;
    }
    console.error(`squeeze ${verb}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
