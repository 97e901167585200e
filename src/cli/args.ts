/**
 * A small command-line parser with the conventions of the field: `--name value`,
 * `--name=value`, short aliases, boolean flags, and list options that take every following
 * number (`--prune 0 1 1`, as lmplz). Unknown options are an error that names them.
 */
import { KotobaError } from '../errors.js';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean' | 'numbers';

export interface OptionSpec {
  type: OptionType;
  short?: string;
  description: string;
  /** Shown in the help as the value's name, e.g. FILE. */
  value?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface Parsed {
  options: Record<string, string | number | boolean | number[] | undefined>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: OptionSpecs, command: string): Parsed {
  const options: Parsed['options'] = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  const usage = (msg: string) => new KotobaError(msg, `see 'kotoba ${command} --help'`);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-') || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const mapped = byShort.get(arg.slice(1, 2));
      if (!mapped) throw usage(`unknown option ${arg}`);
      name = mapped;
      if (arg.length > 2) inline = arg.slice(2);
    }
    const spec = specs[name];
    if (!spec) throw usage(`unknown option --${name}`);
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
    if (spec.type === 'numbers') {
      const values: number[] = [];
      const first = take();
      for (const part of first.split(',')) values.push(toNumber(name, part, usage));
      while (inline === undefined && i + 1 < argv.length && /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(argv[i + 1]!)) {
        values.push(toNumber(name, argv[++i]!, usage));
      }
      options[name] = values;
      continue;
    }
    const v = take();
    if (spec.type === 'string') options[name] = v;
    else {
      const n = toNumber(name, v, usage);
      if (spec.type === 'integer' && !Number.isInteger(n)) throw usage(`--${name} must be a whole number, not '${v}'`);
      options[name] = n;
    }
  }
  return { options, positionals };
}

function toNumber(name: string, text: string, usage: (m: string) => KotobaError): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw usage(`--${name} must be a number, not '${text}'`);
  return n;
}

export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'boolean' ? '' : ` ${s.value ?? (s.type === 'string' ? 'VALUE' : s.type === 'numbers' ? 'N…' : 'N')}`}`;
    return [flag, s.description] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, d]) => `  ${f.padEnd(width)}${d}`).join('\n');
}
