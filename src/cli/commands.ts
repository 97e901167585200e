/** The commands of the \`kotoba\` command line, in the order the help lists them. */
import type { Command } from './common.js';
import { convert } from './convert.js';
import { count } from './count.js';
import { demo } from './demo.js';
import { generate } from './generate.js';
import { info } from './info.js';
import { interpolate } from './interpolate.js';
import { next } from './next.js';
import { ppl } from './ppl.js';
import { prune } from './prune.js';
import { rerank } from './rerank.js';
import { score } from './score.js';
import { sweep } from './sweep.js';
import { train } from './train.js';

export const commands: readonly Command[] = [train, count, ppl, score, convert, info, prune, demo, rerank, next, generate, interpolate, sweep];

/** Every short flag of every command, with the long option it stands for (the same in all). */
export function shortFlags(): Map<string, string> {
  const flags = new Map<string, string>();
  for (const c of commands) for (const [name, spec] of Object.entries(c.options)) if (spec.short) flags.set(spec.short, name);
  return flags;
}
