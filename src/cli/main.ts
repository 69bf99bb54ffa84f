#!/usr/bin/env node
/** The `ptp` executable (package.json "bin"): see cli.ts. */
import { Interrupted, processIo, runCli } from './cli.js';

// `ptp inspect ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// Ctrl-C, once a command checks for it (ctx.interruptible()): the command stops before its next
// step and exits with 130; a second Ctrl-C exits at once. Other commands keep Node's default.
const interrupt = new AbortController();
const onSigint = () => {
  if (interrupt.signal.aborted) process.exit(130);
  if (processIo.isTTY) process.stderr.write('\rstopping after this step (Ctrl-C again to quit now)\x1b[K');
  interrupt.abort(new Interrupted('SIGINT'));
};
const onInterruptible = () => {
  if (!process.listeners('SIGINT').includes(onSigint)) process.on('SIGINT', onSigint);
};

const code = await runCli(process.argv.slice(2), { ...processIo, signal: interrupt.signal, onInterruptible });
// Exit explicitly once the output is flushed: backend worker threads must not keep the CLI alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
