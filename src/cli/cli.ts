/**
 * The `ptp` command line: global options, sub-command dispatch, help, and error handling
 * (usage errors exit 2, failures exit 1, each with a one-line reason on stderr; the stack trace
 * only with --verbose). `runCli` is the in-process entry used by main.ts and the tests.
 */
import { setLogLevel } from '../util/log.js';
import { checkWritableFile } from '../node/atomic-write.js';
import { parseArgs, UsageError } from './args.js';
import type { Command, CommandContext } from './command.js';
import { commands as defaultCommands } from './commands/index.js';
import { GLOBAL_OPTIONS } from './globals.js';
import { commandHelp, mainHelp } from './help.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stderr is a terminal. */
  isTTY?: boolean;
  /** Aborted to interrupt the command (main.ts: on SIGINT); it then exits with status 130. */
  signal?: AbortSignal;
  /** Called when the command starts checking `signal` (main.ts then catches SIGINT). */
  onInterruptible?: () => void;
  /** Called with what the run failed with, before its one line is printed (the fuzz classifies it by type). */
  onError?: (e: unknown) => void;
}

/** The reason the CLI's signal is aborted with on Ctrl-C. */
export class Interrupted extends Error {
  constructor(readonly signalName: string) {
    super(`interrupted (${signalName})`);
    this.name = 'Interrupted';
  }
}

/** Writes to the process streams. */
export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  isTTY: process.stderr.isTTY,
};

function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** Runs `ptp` with `argv` (without node and the script); resolves to the exit status. */
export async function runCli(
  argv: readonly string[],
  io: CliIo = processIo,
  commands: readonly Command[] = defaultCommands,
): Promise<number> {
  const line = (write: (t: string) => void) => (t: string) => write(t.endsWith('\n') ? t : `${t}\n`);
  const out = line(io.stdout);
  const err = line(io.stderr);
  let verbose = argv.includes('--verbose') || argv.includes('-v');
  const signal = io.signal ?? new AbortController().signal;
  let cmd: Command | undefined;
  try {
    const head = parseArgs(argv, GLOBAL_OPTIONS, [], true);
    const [name, ...rest] = head.rest;
    if (name === undefined || name === 'help') {
      const target = name === 'help' ? rest[0] : undefined;
      const c = target === undefined ? undefined : commands.find((x) => x.name === target);
      if (target !== undefined && !c)
        throw new UsageError(`unknown command "${target}"; commands: ${commands.map((x) => x.name).join(', ')}`);
      if (name === undefined && !head.options.help) {
        err(mainHelp(commands));
        return 2;
      }
      out(c ? commandHelp(c) : mainHelp(commands));
      return 0;
    }
    cmd = commands.find((x) => x.name === name);
    if (!cmd) throw new UsageError(`unknown command "${name}"; commands: ${commands.map((x) => x.name).join(', ')}`);
    if (head.options.help || wantsHelp(rest)) {
      out(commandHelp(cmd));
      return 0;
    }
    const args = parseArgs(rest, [...GLOBAL_OPTIONS, ...cmd.options], cmd.positionals);
    const options = { ...head.options, ...args.options };
    verbose = options.verbose === true;
    // Files the command will write: refused now, not after minutes of work.
    for (const spec of cmd.options) {
      const value = options[spec.name];
      if (spec.output && typeof value === 'string') {
        await checkWritableFile(value, `--${spec.name}`).catch((e: Error) => {
          throw new UsageError(e.message);
        });
      }
    }
    setLogLevel(verbose ? 'debug' : 'warn');
    const backend = options.backend as string | undefined;
    const precision = options.precision as 'fp32' | 'bf16' | undefined;
    const ctx: CommandContext = {
      out,
      err,
      verbose,
      interactive: io.isTTY === true,
      interruptible() {
        io.onInterruptible?.();
        return signal;
      },
      async initBackend() {
        const { initNodeBackend } = await import('../node/backend.js');
        return initNodeBackend(backend, { precision });
      },
    };
    await cmd.run({ positionals: args.positionals, options }, ctx);
    return 0;
  } catch (e) {
    io.onError?.(e);
    const where = cmd ? `ptp ${cmd.name}` : 'ptp';
    if (signal.aborted && e === signal.reason) {
      err(`${io.isTTY ? '\n' : ''}${where}: ${e instanceof Error ? e.message : String(e)}`);
      return 130;
    }
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof UsageError) {
      err(`${where}: ${msg} (see '${where} --help')`);
      return 2;
    }
    err(`${where}: ${msg}`);
    if (verbose && e instanceof Error && e.stack) err(e.stack);
    return 1;
  }
}
