/**
 * A small command-line parser: `--name value`, `--name=value`, boolean `--flag`, short aliases
 * (`-h`), repeatable options (values collected in order), `--` to end options. Unknown options,
 * missing values, missing required options, missing or extra positionals, values outside
 * `choices` and numbers outside their `range` are UsageErrors with a one-line message: every
 * command declares its options' rules here and gets the same errors (exit status 2).
 */

/** What a number option accepts, checked while parsing. */
export interface NumberRange {
  readonly integer?: boolean;
  /** Smallest value allowed. */
  readonly min?: number;
  /** Largest value allowed. */
  readonly max?: number;
  /** Values must be above this one (a positive number: `above: 0`). */
  readonly above?: number;
  /** Values must be a multiple of this one. */
  readonly multipleOf?: number;
}

export interface OptionSpec {
  /** Long name without dashes ("backend"). */
  readonly name: string;
  /** One-letter alias without the dash ("v"). */
  readonly short?: string;
  readonly type: 'boolean' | 'string' | 'number';
  readonly description: string;
  /** Placeholder shown in help ("<name>"). */
  readonly valueName?: string;
  /** Allowed values (string options). */
  readonly choices?: readonly string[];
  /** A string option that may be given several times; its value is the list, in order. */
  readonly multiple?: boolean;
  /** A file the command writes: checked to be writable before the command runs. */
  readonly output?: boolean;
  /** A number option's bounds. */
  readonly range?: NumberRange;
  /** The command cannot run without it. */
  readonly required?: boolean;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
  readonly optional?: boolean;
}

export type OptionValue = string | number | boolean | readonly string[];

export interface ParsedArgs {
  /** Positional values by spec name (optional ones may be absent). */
  readonly positionals: Readonly<Record<string, string>>;
  /** Given option values by long name. */
  readonly options: Readonly<Record<string, OptionValue>>;
}

/** Bad command-line input; the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function findOption(specs: readonly OptionSpec[], token: string): OptionSpec | undefined {
  if (token.startsWith('--')) return specs.find((s) => s.name === token.slice(2));
  return specs.find((s) => s.short !== undefined && s.short === token.slice(1));
}

/** A range in words: "a positive integer", "an integer from 1 to 1000", "a number in [0, 1]", ... */
export function rangeText(r: NumberRange): string {
  const kind = r.integer ? 'integer' : 'number';
  if (r.multipleOf !== undefined)
    return `a ${r.above === 0 || r.min === 1 ? 'positive ' : ''}multiple of ${r.multipleOf}`;
  if (r.min !== undefined && r.max !== undefined)
    return r.integer ? `an integer from ${r.min} to ${r.max}` : `a number in [${r.min}, ${r.max}]`;
  if (r.above === 0 || (r.integer && r.min === 1)) return `a positive ${kind}`;
  if (r.min === 0) return `a non-negative ${kind}`;
  if (r.min !== undefined) return `${r.integer ? 'an integer' : 'a number'} ≥ ${r.min}`;
  if (r.above !== undefined) return `${r.integer ? 'an integer' : 'a number'} > ${r.above}`;
  if (r.max !== undefined) return `${r.integer ? 'an integer' : 'a number'} ≤ ${r.max}`;
  return r.integer ? 'an integer' : 'a number';
}

/** Whether `n` is in range `r`. */
export function inRange(n: number, r: NumberRange): boolean {
  return (
    (!r.integer || Number.isInteger(n)) &&
    (r.min === undefined || n >= r.min) &&
    (r.max === undefined || n <= r.max) &&
    (r.above === undefined || n > r.above) &&
    (r.multipleOf === undefined || n % r.multipleOf === 0)
  );
}

function convert(spec: OptionSpec, raw: string): OptionValue {
  if (spec.type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${spec.name} expects a number, got "${raw}"`);
    if (spec.range && !inRange(n, spec.range))
      throw new UsageError(`--${spec.name} must be ${rangeText(spec.range)}, got ${n}`);
    return n;
  }
  if (spec.choices && !spec.choices.includes(raw)) {
    throw new UsageError(`--${spec.name}: unknown value "${raw}"; choose one of: ${spec.choices.join(', ')}`);
  }
  return raw;
}

/**
 * Parses `argv` against option and positional specs. With `stopAtPositional`, parsing stops at
 * the first positional and the rest of argv is returned in `rest` (used to find the sub-command).
 */
export function parseArgs(
  argv: readonly string[],
  options: readonly OptionSpec[],
  positionals: readonly PositionalSpec[] = [],
  stopAtPositional = false,
): ParsedArgs & { rest: string[] } {
  const opts: Record<string, OptionValue> = {};
  const pos: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') {
      pos.push(...argv.slice(i + 1));
      i = argv.length;
      break;
    }
    if (token.startsWith('-') && token !== '-') {
      const eq = token.indexOf('=');
      const name = eq > 0 && token.startsWith('--') ? token.slice(0, eq) : token;
      const spec = findOption(options, name);
      if (!spec) throw new UsageError(`unknown option ${name}`);
      if (spec.type === 'boolean') {
        if (eq > 0) throw new UsageError(`--${spec.name} takes no value`);
        opts[spec.name] = true;
        continue;
      }
      let raw: string | undefined;
      if (eq > 0) raw = token.slice(eq + 1);
      else if (i + 1 < argv.length) raw = argv[++i];
      if (raw === undefined)
        throw new UsageError(`--${spec.name} needs a value${spec.valueName ? ` ${spec.valueName}` : ''}`);
      const value = convert(spec, raw);
      if (spec.multiple) opts[spec.name] = [...((opts[spec.name] as string[] | undefined) ?? []), String(value)];
      else opts[spec.name] = value;
      continue;
    }
    if (stopAtPositional) break;
    pos.push(token);
  }
  const rest = stopAtPositional ? argv.slice(i) : [];
  if (!stopAtPositional) {
    const missing = options.find((o) => o.required && opts[o.name] === undefined);
    if (missing)
      throw new UsageError(`--${missing.name}${missing.valueName ? ` ${missing.valueName}` : ''} is required`);
    const required = positionals.filter((p) => !p.optional);
    if (pos.length < required.length) throw new UsageError(`missing argument <${required[pos.length].name}>`);
    if (pos.length > positionals.length) throw new UsageError(`unexpected argument "${pos[positionals.length]}"`);
  }
  const named: Record<string, string> = {};
  positionals.forEach((p, k) => {
    if (k < pos.length) named[p.name] = pos[k];
  });
  return { positionals: named, options: opts, rest };
}
