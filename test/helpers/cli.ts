/** Running the `ptp` CLI from tests: in-process with captured output, or as the real bin in a child process. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/cli/cli.js';
import { getLogLevel, setLogLevel } from '../../src/util/log.js';
import { repoRoot } from './reference.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output (the log level is restored afterwards). */
export function ptp(...argv: string[]): Promise<Run> {
  return ptpWithSignal(undefined, ...argv);
}

/** `ptp` with an interrupt signal (as main.ts passes on Ctrl-C). */
export async function ptpWithSignal(signal: AbortSignal | undefined, ...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const level = getLogLevel();
  try {
    const code = await runCli(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), signal });
    return { code, stdout, stderr };
  } finally {
    setLogLevel(level);
  }
}

/** Runs src/cli/main.ts in a child process, exactly as the `ptp` bin runs. */
export function spawnPtp(...argv: string[]): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), ...argv], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 240000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Non-empty lines. */
export const lines = (s: string) => s.split('\n').filter((l) => l !== '');
