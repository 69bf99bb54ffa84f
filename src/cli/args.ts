/**
 * A small command-line parser: `--name value`, `--name=value`, boolean `--flag`, short aliases
 * (`-h`), repeatable options (values collected in order), `--` to end options. Unknown options,
 * missing values, missing or extra positionals and values outside `choices` are UsageErrors with
 * a one-line message.
 */

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

function convert(spec: OptionSpec, raw: string): OptionValue {
  if (spec.type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${spec.name} expects a number, got "${raw}"`);
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
