/** What a `ptp` sub-command is: its name, help text, arguments and what it runs. */
import type { SelectedBackend } from '../backend/select.js';
import type { OptionSpec, ParsedArgs, PositionalSpec } from './args.js';

/** Output streams and shared services handed to a command. */
export interface CommandContext {
  /** Standard output (results). */
  out(text: string): void;
  /** Standard error (progress, notes). */
  err(text: string): void;
  /** True when --verbose was given. */
  readonly verbose: boolean;
  /** True when stderr is a terminal (progress lines may use \r). */
  readonly interactive: boolean;
  /**
   * Makes Ctrl-C (SIGINT) stop this command cooperatively from now on and returns the signal it
   * aborts: long work checks it between steps and stops (the pipelines of `loadModel` do); the
   * CLI then exits with status 130 and one line. Without this call Ctrl-C ends the process at once.
   */
  interruptible(): AbortSignal;
  /**
   * Activates the tfjs backend chosen with --backend / PTP_BACKEND (default: automatic order).
   * Only commands that compute call it; inspect/convert never load tfjs.
   */
  initBackend(): Promise<SelectedBackend>;
}

export interface Command {
  readonly name: string;
  /** One line for `ptp --help`. */
  readonly summary: string;
  /** Longer text for `ptp <name> --help`. */
  readonly description?: string;
  readonly positionals: readonly PositionalSpec[];
  /** The command's own options (the global ones are added by the CLI). */
  readonly options: readonly OptionSpec[];
  readonly examples?: readonly string[];
  /** Runs the command; throw to fail (the message becomes the one-line reason). */
  run(args: ParsedArgs, ctx: CommandContext): Promise<void>;
}
