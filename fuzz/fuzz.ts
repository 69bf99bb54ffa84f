/**
 * `npm run fuzz [-- --cases N --seed S --jobs J --timeout-ms T]`: seeded hostile inputs against
 * the library and the CLI (targets in fuzz/targets: safetensors files and headers, model
 * directories, tokenizer input, command-line arguments). Every case must end in a result or a
 * clean error; anything else is a crash, and a case that does not answer within the time limit
 * is a hang (fuzz/outcome.ts says which errors are clean). Cases run in child processes (`--jobs`
 * at a time) watched by this one, so even an endless synchronous loop is caught and the run goes
 * on with the next case; a child that dies or exits during a case (or before its chunk is done)
 * is a crash of that case. Prints the counts per target and outcome, how far the `ok` cases got
 * (e.g. the CLI cases that sampled and decoded), the first crashes and hangs, and one JSON line
 * `{"cases", "clean_errors", "ok", "crashes", "hangs", "reached", ...}`; exits 1 when there was a
 * crash or a hang.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classify, type CaseReport, type Outcome } from './outcome.js';
import { caseSeed, Rng } from './rng.js';
import type { FuzzTarget } from './targets/target.js';

const HERE = fileURLToPath(import.meta.url);

let scratch: string | undefined;
/** The fuzz children's working directory: a temporary one, removed when the parent exits. */
function scratchDir(): string {
  if (!scratch) {
    const dir = mkdtempSync(join(tmpdir(), 'ptp-fuzz-cwd-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return scratch;
}

async function targets(): Promise<FuzzTarget<unknown>[]> {
  const [{ safetensorsTarget }, { tokenizerTarget }, { modelDirTarget }, { cliTarget }, { selftestTarget }] =
    await Promise.all([
      import('./targets/safetensors.js'),
      import('./targets/tokenizer.js'),
      import('./targets/model-dir.js'),
      import('./targets/cli.js'),
      import('./targets/selftest.js'),
    ]);
  return [safetensorsTarget, tokenizerTarget, modelDirTarget, cliTarget, selftestTarget] as FuzzTarget<unknown>[];
}

/** Target names and shares, without loading the targets (the parent process stays light). */
const PLAN: readonly [string, number][] = [
  ['safetensors', 0.45],
  ['tokenizer', 0.25],
  ['model-dir', 0.15],
  ['cli', 0.15],
];
const SELFTEST_PLAN: readonly [string, number][] = [['selftest', 1]];
/**
 * CLI cases load a model and may sample and decode (1–3 steps, ≤ 128 px: ~2–7 s alone, several
 * times that on a loaded machine): they get this many times the per-case limit before a hang.
 */
const SLOW: Readonly<Record<string, number>> = { cli: 4 };

interface Options {
  plan: readonly [string, number][];
  cases: number;
  seed: number;
  jobs: number;
  timeoutMs: number;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { plan: PLAN, cases: 10_000, seed: 1, jobs: 2, timeoutMs: 15_000 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--selftest') {
      o.plan = SELFTEST_PLAN;
      continue;
    }
    const [flag, inline] = argv[i].split('=', 2);
    const value = Number(inline ?? argv[++i]);
    const key = ({ '--cases': 'cases', '--seed': 'seed', '--jobs': 'jobs', '--timeout-ms': 'timeoutMs' } as const)[
      flag
    ];
    if (!key || !Number.isFinite(value) || value < (key === 'seed' ? 0 : 1))
      throw new Error(
        `fuzz: bad option ${argv[i - (inline ? 0 : 1)]} (use --cases N --seed S --jobs J --timeout-ms T --selftest)`,
      );
    o[key] = Math.floor(value);
  }
  return o;
}

// ---- child: runs cases [from, to) of one target, reporting each ------------------------------

type ToParent = { kind: 'start'; index: number } | { kind: 'done'; report: CaseReport } | { kind: 'ready' };

async function child(target: string, seed: number, from: number, to: number): Promise<void> {
  const send = (m: ToParent) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
  const { setLogLevel } = await import('../src/util/log.js');
  setLogLevel('silent');
  const t = (await targets()).find((x) => x.name === target)!;
  const ctx = await t.setup();
  await send({ kind: 'ready' });
  try {
    for (let i = from; i < to; i++) {
      await send({ kind: 'start', index: i });
      let outcome: Outcome = 'ok';
      let detail: string | undefined;
      let reached: string | undefined;
      const t0 = performance.now();
      try {
        reached = (await t.run(ctx, new Rng(caseSeed(seed, target, i)), i)) ?? undefined;
      } catch (e) {
        ({ outcome, detail } = classify(e));
      }
      await send({ kind: 'done', report: { target, index: i, outcome, detail, reached, ms: performance.now() - t0 } });
    }
  } finally {
    await t.teardown?.(ctx);
  }
}

// ---- parent: splits the cases, watches the children ------------------------------------------

interface Chunk {
  target: string;
  from: number;
  to: number;
}

/** Runs one chunk in child processes, restarting after a hang or a dead child. */
async function runChunk(chunk: Chunk, o: Options, onReport: (r: CaseReport) => void): Promise<void> {
  let next = chunk.from;
  while (next < chunk.to) {
    const started = next;
    next = await new Promise<number>((resolve) => {
      const proc: ChildProcess = fork(
        HERE,
        ['--child', chunk.target, String(o.seed), String(started), String(chunk.to)],
        {
          // tsx by its resolved path: the child runs in a scratch directory of its own, so that a
          // relative path a case passes (`--out -`) never lands in the caller's directory.
          execArgv: ['--import', import.meta.resolve('tsx'), '--max-old-space-size=4096'],
          cwd: scratchDir(),
          env: { ...process.env, PTP_WASM_THREADS: '1', PTP_BACKEND: 'wasm' },
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        },
      );
      let current = -1;
      let resumeAt = started;
      let stderr = '';
      let watchdog: NodeJS.Timeout | undefined;
      let hung = false;
      const arm = (ms: number) => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          // No answer in time: a hang of the running case (or of the set-up).
          const index = current >= 0 ? current : started;
          onReport({
            target: chunk.target,
            index,
            outcome: 'hang',
            detail: current >= 0 ? `no answer within ${ms} ms` : 'set-up did not finish',
          });
          hung = true;
          resumeAt = current >= 0 ? index + 1 : chunk.to;
          proc.kill('SIGKILL');
        }, ms);
      };
      arm(120_000);
      proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      let ready = false;
      proc.on('message', (m: ToParent) => {
        if (m.kind === 'ready') {
          ready = true;
        } else if (m.kind === 'start') {
          current = m.index;
          arm(o.timeoutMs * (SLOW[chunk.target] ?? 1));
        } else if (m.kind === 'done') {
          onReport(m.report);
          resumeAt = m.report.index + 1;
          current = -1;
        }
      });
      // 'close' comes after the exit and after the last message and stderr data have arrived.
      proc.on('close', (code, signal) => {
        clearTimeout(watchdog);
        const last = stderr.trim().split('\n').slice(-3).join(' | ');
        const how = signal ? `signal ${signal}` : `exit ${code}`;
        if (!hung) {
          if (current >= 0) {
            // The child died or exited inside a case (out of memory, a process.exit, even with
            // status 0): a crash of that case, never a case dropped silently.
            onReport({
              target: chunk.target,
              index: current,
              outcome: 'crash',
              detail: `the process ended during the case (${how}): ${last}`,
            });
            resumeAt = current + 1;
          } else if (!ready) {
            onReport({
              target: chunk.target,
              index: started,
              outcome: 'crash',
              detail: `set-up failed (${how}): ${last}`,
            });
            resumeAt = chunk.to;
          } else if (resumeAt < chunk.to) {
            // Ended between cases before its chunk was done: the case that ran last left it behind.
            onReport({
              target: chunk.target,
              index: resumeAt,
              outcome: 'crash',
              detail: `the process ended after case ${resumeAt - 1}, before this one (${how}): ${last}`,
            });
            resumeAt++;
          }
        }
        resolve(Math.max(resumeAt, started + 1));
      });
    });
  }
}

async function parent(o: Options): Promise<number> {
  const t0 = Date.now();
  const chunks: Chunk[] = [];
  let assigned = 0;
  o.plan.forEach(([target, share], k) => {
    const n = k === o.plan.length - 1 ? o.cases - assigned : Math.round(o.cases * share);
    assigned += n;
    // Chunks small enough to spread over the jobs.
    const size = Math.max(50, Math.ceil(o.cases / (o.jobs * 3)));
    for (let from = 0; from < n; from += size) chunks.push({ target, from, to: Math.min(n, from + size) });
  });
  const counts = new Map<string, Record<Outcome, number>>(
    o.plan.map(([t]) => [t, { ok: 0, clean_error: 0, crash: 0, hang: 0 }]),
  );
  const bad: CaseReport[] = [];
  const errorKinds = new Map<string, number>();
  const reached = new Map<string, number>();
  const busy = new Map<string, number>(o.plan.map(([t]) => [t, 0]));
  const onReport = (r: CaseReport) => {
    counts.get(r.target)![r.outcome]++;
    busy.set(r.target, busy.get(r.target)! + (r.ms ?? 0));
    if (r.outcome === 'crash' || r.outcome === 'hang') bad.push(r);
    if (r.outcome === 'ok' && r.reached)
      reached.set(`${r.target}: ${r.reached}`, (reached.get(`${r.target}: ${r.reached}`) ?? 0) + 1);
    if (r.outcome === 'clean_error' && r.detail) {
      const kind = `${r.target}: ${r.detail
        .replace(/\d+(\.\d+)?/g, 'N')
        .replace(/"[^"]*"/g, '"…"')
        .slice(0, 90)}`;
      errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
    }
  };
  const queue = [...chunks];
  await Promise.all(
    Array.from({ length: o.jobs }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await runChunk(c, o, onReport);
    }),
  );
  const seconds = (Date.now() - t0) / 1000;
  const total = { ok: 0, clean_error: 0, crash: 0, hang: 0 };
  console.log(`fuzz: seed ${o.seed}, ${o.cases} cases, ${o.jobs} jobs, ${seconds.toFixed(1)} s`);
  console.log(
    `  ${'target'.padEnd(12)} ${'cases'.padStart(6)} ${'ok'.padStart(6)} ${'clean'.padStart(6)} ${'crash'.padStart(6)} ${'hang'.padStart(6)}   ms/case`,
  );
  for (const [t, c] of counts) {
    for (const k of Object.keys(total) as Outcome[]) total[k] += c[k];
    const n = c.ok + c.clean_error + c.crash + c.hang;
    console.log(
      `  ${t.padEnd(12)} ${String(n).padStart(6)} ${String(c.ok).padStart(6)} ${String(c.clean_error).padStart(6)} ${String(c.crash).padStart(6)} ${String(c.hang).padStart(6)}   ${(busy.get(t)! / Math.max(n, 1)).toFixed(1).padStart(7)}`,
    );
  }
  for (const [what, n] of reached) console.log(`  reached ${what}: ${n} cases`);
  console.log(`  most frequent clean errors:`);
  for (const [kind, n] of [...errorKinds].sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`    ${String(n).padStart(5)} × ${kind}`);
  for (const r of bad.slice(0, 20))
    console.log(`  ${r.outcome.toUpperCase()} ${r.target} #${r.index} (seed ${o.seed}): ${r.detail}`);
  const cases = total.ok + total.clean_error + total.crash + total.hang;
  console.log(
    JSON.stringify({
      cases,
      clean_errors: total.clean_error,
      ok: total.ok,
      crashes: total.crash,
      hangs: total.hang,
      reached: Object.fromEntries(reached),
      seed: o.seed,
      seconds: +seconds.toFixed(1),
      per_target: Object.fromEntries(counts),
    }),
  );
  return total.crash + total.hang > 0 || cases !== o.cases ? 1 : 0;
}

/** `--replay target:index [--seed S]`: runs one case in this process and prints what it threw, with the stack. */
async function replay(spec: string, seed: number): Promise<number> {
  const [target, index] = spec.split(':');
  const { setLogLevel } = await import('../src/util/log.js');
  setLogLevel('silent');
  const t = (await targets()).find((x) => x.name === target);
  if (!t) throw new Error(`no target ${target}`);
  const ctx = await t.setup();
  try {
    await t.run(ctx, new Rng(caseSeed(seed, target, Number(index))), Number(index));
    console.log('ok');
  } catch (e) {
    console.log(classify(e));
    console.log(e);
  } finally {
    await t.teardown?.(ctx);
  }
  return 0;
}

const argv = process.argv.slice(2);
if (argv[0] === '--replay') {
  process.exit(await replay(argv[1], Number(argv[3] ?? 1)));
} else if (argv[0] === '--child') {
  await child(argv[1], Number(argv[2]), Number(argv[3]), Number(argv[4]));
  process.disconnect?.();
  process.exit(0);
} else {
  let code: number;
  try {
    code = await parent(parseOptions(argv));
  } catch (e) {
    console.error((e as Error).message);
    code = 2;
  }
  process.exit(code);
}
