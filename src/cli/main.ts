// `lemo`: the engine headless. Each subcommand reads files, calls the engine, prints JSON.
import { UserError } from '../engine/node';
import { program } from './program';

program.parseAsync().catch((e: unknown) => {
  if (e instanceof UserError) {
    process.stderr.write(`lemo: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`lemo: internal error: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
