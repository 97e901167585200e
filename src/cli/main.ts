#!/usr/bin/env node
/** `kotoba` command line: one file per command, thin over the library. */
import { KotobaError } from '../errors.js';
import { formatOptions, parseArgs } from './args.js';
import type { Command, CommandIO } from './common.js';
import { convert } from './convert.js';
import { count } from './count.js';
import { demo } from './demo.js';
import { info } from './info.js';
import { ppl } from './ppl.js';
import { prune } from './prune.js';
import { score } from './score.js';
import { train } from './train.js';
import { rerank } from './rerank.js';
import { next } from './next.js';
import { generate } from './generate.js';
import { interpolate } from './interpolate.js';
import { sweep } from './sweep.js';
// Register the loaders that open neural models (.safetensors) and mixtures (.json) for every
// command, in one place rather than as a side effect of whichever command imports them.
import '../node/neural-files.js';
import '../node/mixture-files.js';

const commands: Command[] = [train, count, ppl, score, convert, info, prune, demo, rerank, next, generate, interpolate, sweep];

function mainHelp(): string {
  let text = 'kotoba — language models in TypeScript (n-gram, log-linear, feed-forward, recurrent)\n\n';
  text += 'usage: kotoba COMMAND [options] …   (kotoba COMMAND --help for its options)\n\ncommands:\n';
  for (const c of commands) {
    text += `  ${c.name.padEnd(12)} ${c.summary}\n`;
    text += `  ${''.padEnd(12)}   e.g. ${c.examples[0]}\n`;
  }
  text += '\nScores are log10, as in ARPA files, KenLM and SRILM. Text is split on spaces and tabs;\n';
  text += 'each line is a sentence, scored with </s> at its end and <s> as context only.\n';
  return text;
}

function commandHelp(c: Command): string {
  return `kotoba ${c.name}: ${c.summary}\n\nusage: ${c.usage}\n\noptions:\n${formatOptions(c.options)}\n\nexamples:\n${c.examples.map((e) => `  ${e}`).join('\n')}\n`;
}

async function writeStdout(text: string): Promise<void> {
  if (text.length === 0) return;
  if (!process.stdout.write(text)) await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await writeStdout(mainHelp());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-V') {
    await writeStdout('kotoba 0.1.0\n');
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) throw new KotobaError(`unknown command '${name}'`, `run 'kotoba --help' for the list`);
  const parsed = parseArgs(rest, command.options, command.name);
  if (parsed.options.help) {
    await writeStdout(commandHelp(command));
    return 0;
  }
  const showProgress = Boolean(parsed.options.verbose) || process.stderr.isTTY === true;
  const io: CommandIO = {
    stdout: writeStdout,
    log: {
      warn: (m) => {
        if (!parsed.options.quiet) process.stderr.write(`kotoba: warning: ${m}\n`);
      },
      info: (m) => {
        if (showProgress) process.stderr.write(`${m}\n`);
      },
    },
    progress: (m) => {
      if (showProgress) process.stderr.write(`${m}\n`);
    },
  };
  await command.run(parsed, io);
  return 0;
}

process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  // A closed pipe (kotoba … | head) is not an error.
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof KotobaError) {
      process.stderr.write(`kotoba: ${e.message}\n`);
    } else {
      const err = e as Error;
      process.stderr.write(`kotoba: internal error: ${err?.message ?? String(e)}\n`);
      if (process.env.KOTOBA_DEBUG) process.stderr.write(`${err?.stack}\n`);
      else process.stderr.write('kotoba: (set KOTOBA_DEBUG=1 for a stack trace, and please report it)\n');
    }
    process.exitCode = 1;
  },
);
