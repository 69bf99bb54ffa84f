#!/usr/bin/env node
/** The `ptp` executable (package.json "bin"): see cli.ts. */
import { processIo, runCli } from './cli.js';

// `ptp inspect ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const code = await runCli(process.argv.slice(2), processIo);
// Exit explicitly once the output is flushed: backend worker threads must not keep the CLI alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
