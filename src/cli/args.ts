/**
 * A small command-line parser with the conventions of the field: `--name value`,
 * `--name=value`, short aliases, boolean flags, and list options that take every following
 * number (`--prune 0 1 1`, as lmplz). Every option declares its type and its range, and every
 * command how many positional arguments it takes, so that all of it is checked here, in one
 * place: an unknown option, a value out of range or an extra argument is an error naming it.
 */
import { KotobaError } from '../errors.js';

/**
 * `integer`: a whole number; `bytes`: a whole number of bytes, optionally with a suffix K, M, G
 * or T (powers of 1024, as KenLM's `-S`); `numbers`/`integers`: one or more values.
 */
export type OptionType = 'string' | 'number' | 'integer' | 'bytes' | 'boolean' | 'numbers' | 'integers';

export interface OptionSpec {
  type: OptionType;
  short?: string;
  description: string;
  /** Shown in the help as the value's name, e.g. FILE; also names the value in its range. */
  value?: string;
  /** Inclusive bounds of the value (of each value, for a list). */
  min?: number;
  max?: number;
  /** Exclusive bounds: the value must be greater than `above` and less than `below`. */
  above?: number;
  below?: number;
  /** Older long spellings still accepted, with a warning that names this one. */
  deprecated?: string[];
  /** A short flag this option had before that flag got one meaning across commands: an error naming this option. */
  formerShort?: string;
  /** The model kinds the option applies to (`train`); absent: all. */
  models?: readonly string[];
}

export type OptionSpecs = Record<string, OptionSpec>;

/** The positional arguments of a command: their names in order and how many are required. */
export interface Positionals {
  names: readonly string[];
  required: number;
  /** The last name repeats without limit (MODEL1 MODEL2 …, CONTEXT…). */
  repeats?: boolean;
  /** Said after an unexpected extra argument, where a likely mistake has a fix. */
  extraHint?: string;
}

/** What the parser needs to know of a command. */
export interface Syntax {
  name: string;
  usage: string;
  options: OptionSpecs;
  positionals: Positionals;
}

export type OptionValue = string | number | boolean | number[];

export interface Parsed {
  options: Record<string, OptionValue | undefined>;
  positionals: string[];
  /** Deprecated spellings met (for the command to print unless --quiet). */
  warnings: string[];
}

/** A decimal number as people write them: no hex, no `Infinity`, no empty string. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const BYTES = /^(\d+\.?\d*|\.\d+)([KMGT])?$/i;
const BYTE_UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

const isList = (t: OptionType) => t === 'numbers' || t === 'integers';
const isWhole = (t: OptionType) => t === 'integer' || t === 'integers' || t === 'bytes';

/**
 * The range of a number option as people read it: `integer 1 ≤ N ≤ 255`, `0 ≤ P < 1`, `η > 0`.
 * Empty for options without a range or a whole-number constraint.
 */
export function rangeText(spec: OptionSpec): string {
  const { kind, bounds } = rangeParts(spec);
  const text = [kind, bounds].filter(Boolean).join(' ');
  return isList(spec.type) && text ? `each ${text}` : text;
}

function rangeParts(spec: OptionSpec): { kind: string; bounds: string } {
  if (spec.type === 'string' || spec.type === 'boolean') return { kind: '', bounds: '' };
  const v = valueName(spec);
  const lower = spec.min !== undefined ? `${spec.min} ≤ ` : spec.above !== undefined ? `${spec.above} < ` : '';
  const upper = spec.max !== undefined ? ` ≤ ${spec.max}` : spec.below !== undefined ? ` < ${spec.below}` : '';
  let bounds = '';
  if (lower && upper) bounds = `${lower}${v}${upper}`;
  else if (lower) bounds = `${v} ${spec.min !== undefined ? '≥' : '>'} ${spec.min ?? spec.above}`;
  else if (upper) bounds = `${v}${upper}`;
  return { kind: spec.type === 'bytes' ? 'bytes' : isWhole(spec.type) ? 'integer' : '', bounds };
}

function valueName(spec: OptionSpec): string {
  const v = spec.value ?? (isWhole(spec.type) ? 'N' : 'X');
  return v.replace(/…$/, '');
}

/** Checks a number against its option's type and range; returns it or throws one clear line. */
function checkRange(name: string, spec: OptionSpec, n: number, text: string, usage: (m: string) => KotobaError): number {
  const inRange =
    (!isWhole(spec.type) || Number.isInteger(n)) &&
    (spec.min === undefined || n >= spec.min) &&
    (spec.max === undefined || n <= spec.max) &&
    (spec.above === undefined || n > spec.above) &&
    (spec.below === undefined || n < spec.below);
  if (!inRange) {
    const { kind, bounds } = rangeParts(spec);
    const what = kind === 'bytes' ? 'a number of bytes' : kind === 'integer' ? 'an integer' : '';
    throw usage(`--${name} must be ${[what, bounds].filter(Boolean).join(' ')}, not ${text}`);
  }
  return n;
}

function toNumber(name: string, spec: OptionSpec, text: string, usage: (m: string) => KotobaError): number {
  if (spec.type === 'bytes') {
    const m = BYTES.exec(text);
    if (!m) throw usage(`--${name} must be a number of bytes (e.g. 1048576 or 1M), not '${text}'`);
    return checkRange(name, spec, Number(m[1]) * (m[2] ? BYTE_UNITS[m[2].toLowerCase()]! : 1), text, usage);
  }
  const n = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(n)) throw usage(`--${name} must be a number, not '${text}'`);
  return checkRange(name, spec, n, text, usage);
}

/**
 * Parses `argv` for a command. Option names are looked up as own entries of the command's
 * table only (`--constructor` is as unknown as `--bogus`).
 */
export function parseArgs(argv: readonly string[], syntax: Pick<Syntax, 'name' | 'options'>): Parsed {
  const options: Parsed['options'] = Object.create(null) as Parsed['options'];
  const positionals: string[] = [];
  const warnings: string[] = [];
  const byLong = new Map<string, string>();
  const byShort = new Map<string, string>();
  const formerShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(syntax.options)) {
    byLong.set(name, name);
    for (const old of spec.deprecated ?? []) byLong.set(old, name);
    if (spec.short) byShort.set(spec.short, name);
    if (spec.formerShort) formerShort.set(spec.formerShort, name);
  }
  const usage = (msg: string) => new KotobaError(msg, `see 'kotoba ${syntax.name} --help'`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-') || /^-[\d.]/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    let given: string;
    let inline: string | undefined;
    let name: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      given = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
      name = byLong.get(given);
      if (name !== undefined && name !== given) warnings.push(`--${given} is deprecated: write --${name}`);
    } else {
      const letter = arg.slice(1, 2);
      name = byShort.get(letter);
      if (name === undefined && formerShort.has(letter)) {
        const now = formerShort.get(letter)!;
        throw new KotobaError(`-${letter} is no longer short for --${now} in kotoba ${syntax.name}`, `write --${now}; see 'kotoba --help' for the flags shared by every command`);
      }
      given = name ?? letter;
      if (arg.length > 2) inline = arg.slice(2);
    }
    if (name === undefined) throw usage(`unknown option ${arg.startsWith('--') ? `--${given}` : arg}`);
    const spec = syntax.options[name]!;
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw usage(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('--') && v.length > 2)) throw usage(`--${name} needs a value`);
      i++;
      return v;
    };
    if (isList(spec.type)) {
      const values: number[] = [];
      for (const part of take().split(',')) values.push(toNumber(name, spec, part, usage));
      while (inline === undefined && i + 1 < argv.length && DECIMAL.test(argv[i + 1]!)) {
        values.push(toNumber(name, spec, argv[++i]!, usage));
      }
      options[name] = values;
      continue;
    }
    const v = take();
    options[name] = spec.type === 'string' ? v : toNumber(name, spec, v, usage);
  }
  return { options, positionals, warnings };
}

/** Checks the number of positional arguments against what the command declares. */
export function checkPositionals(positionals: readonly string[], syntax: Pick<Syntax, 'usage' | 'positionals'>): void {
  const { names, required, repeats, extraHint } = syntax.positionals;
  if (positionals.length < required) {
    throw new KotobaError(`missing ${names[positionals.length] ?? names[names.length - 1]}`, `usage: ${syntax.usage}`);
  }
  if (!repeats && positionals.length > names.length) {
    throw new KotobaError(`unexpected argument '${positionals[names.length]}'`, extraHint ?? `usage: ${syntax.usage}`);
  }
}

/** The options as the help lists them: flag, value name, description and range. */
export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const value = s.type === 'boolean' ? '' : ` ${s.value ?? (s.type === 'string' ? 'VALUE' : isList(s.type) ? 'N…' : valueName(s))}`;
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${name}${value}`;
    const range = rangeText(s);
    return [flag, range ? `${s.description} [${range}]` : s.description] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, d]) => `  ${f.padEnd(width)}${d}`).join('\n');
}
