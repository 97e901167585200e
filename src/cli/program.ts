/** The `kotoba` command line (started by main.ts): one file per command, thin over the library. */
import { KotobaError, printable } from '../errors.js';
import { promises as fsp } from 'node:fs';
import { fileError, writeChunk, writesDone } from '../node/io.js';
import { checkOutputs } from '../node/outputs.js';
import { checkPositionals, formatOptions, parseArgs } from './args.js';
import { commands, shortFlags } from './commands.js';
import { formatSize, type Command, type CommandIO } from './common.js';
import { dropRepeatedInterrupts, estimateHere, relaunch, shouldRelaunch, smallJob } from './relaunch.js';
// Register the loaders that open neural models (.safetensors) and mixtures (.json) for every
// command, in one place rather than as a side effect of whichever command imports them.
import '../node/neural-loader.js';
import '../node/mixture-files.js';

function mainHelp(): string {
  let text = 'kotoba — language models in TypeScript (n-gram, log-linear, feed-forward, recurrent)\n\n';
  text += 'usage: kotoba COMMAND [options] …   (kotoba COMMAND --help for its options)\n\ncommands:\n';
  for (const c of commands) {
    text += `  ${c.name.padEnd(12)} ${c.summary}\n`;
    text += `  ${''.padEnd(12)}   e.g. ${c.examples[0]}\n`;
  }
  text += '\nshort flags, each with one meaning in every command that takes it:\n  ';
  text += [...shortFlags()].sort().map(([letter, name]) => `-${letter} --${name}`).join(', ');
  text += '\n\nResults go to stdout (--json: one JSON object per line); warnings, progress (on a terminal,\n';
  text += "or with -v) and a 'wrote FILE: …' line for each file written go to stderr (-q: errors only).\n";
  text += 'Scores are log10, as in ARPA files, KenLM and SRILM. Text is split on spaces and tabs;\n';
  text += 'each line is a sentence, scored with </s> at its end and <s> as context only.\n';
  return text;
}

function commandHelp(c: Command): string {
  return `kotoba ${c.name}: ${c.summary}\n\nusage: ${c.usage}\n\noptions:\n${formatOptions(c.options)}\n\nexamples:\n${c.examples.map((e) => `  ${e}`).join('\n')}\n`;
}

/**
 * Set when stdout is a closed pipe (kotoba … | head -1): the reader has all it wants. Like ripgrep,
 * and like the tools that die of SIGPIPE, we then stop and say nothing; unlike them we exit 0, so
 * that a pipeline under `set -o pipefail` that closes early on purpose does not fail.
 */
let readerGone = false;

/** Notes a failed write to stdout: a closed pipe means the reader went away. */
function noteStdoutError(e: unknown): void {
  if ((e as NodeJS.ErrnoException)?.code === 'EPIPE') readerGone = true;
}

function stdoutFailed(e: unknown): never {
  noteStdoutError(e);
  throw fileError(e, '<stdout>', 'write');
}

async function writeStdout(text: string): Promise<void> {
  if (text.length === 0) return;
  await writeChunk(process.stdout, text).catch(stdoutFailed);
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
  const parsed = parseArgs(rest, command);
  if (parsed.options.help) {
    await writeStdout(commandHelp(command));
    return 0;
  }
  checkPositionals(parsed.positionals, command);
  const estimation = command.estimation?.(parsed);
  if (estimation) {
    if (shouldRelaunch() && !(await smallJob(estimation))) return relaunch();
    estimateHere();
  }
  dropRepeatedInterrupts();
  const quiet = Boolean(parsed.options.quiet);
  const showProgress = Boolean(parsed.options.verbose) || process.stderr.isTTY === true;
  const io: CommandIO = {
    stdout: writeStdout,
    log: {
      warn: (m) => {
        if (!quiet) process.stderr.write(`kotoba: warning: ${printable(m)}\n`);
      },
      info: (m) => {
        if (showProgress) process.stderr.write(`${m}\n`);
      },
    },
    progress: (m) => {
      if (showProgress) process.stderr.write(`${m}\n`);
    },
    wrote: async (path, what) => {
      if (quiet) return;
      if (path === '-') return void process.stderr.write(`wrote standard output: ${what}\n`);
      const size = await fsp.stat(path).then((s) => `, ${formatSize(s.size)}`, () => '');
      process.stderr.write(`wrote ${printable(path)}: ${what}${size}\n`);
    },
  };
  for (const w of parsed.warnings) io.log.warn(w);
  if (command.files) await checkOutputs(command.files(parsed));
  await command.run(parsed, io);
  return 0;
}

// Failed writes to stdout reject the write that met them (writeChunk, writesDone); a failed write
// to stderr cannot be reported anywhere. Neither may crash the process with a stack trace. A
// model written to standard output (-o -) meets a closed pipe in its own writer (io.ts's
// writeAtomic), which the event tells us about as well. (stdoutFailed notes it at once: the
// event comes a tick later than the rejection.)
process.stdout.on('error', noteStdoutError);
process.stderr.on('error', () => {});

let settled = false;
process.on('beforeExit', () => {
  // The event loop emptied while the command still waited for something that can never come:
  // a bug, but never a silent exit 0 with the work undone.
  if (settled) return;
  settled = true;
  process.stderr.write('kotoba: internal error: the command stopped before it finished (please report it)\n');
  process.exitCode = 1;
});

function report(e: unknown): number {
  if (readerGone) return 0;
  if (e instanceof KotobaError) {
    process.stderr.write(`kotoba: ${printable(e.message)}\n`);
  } else {
    const err = e as Error;
    process.stderr.write(`kotoba: internal error: ${printable(err?.message ?? String(e))}\n`);
    if (process.env.KOTOBA_DEBUG) process.stderr.write(`${err?.stack}\n`);
    else process.stderr.write('kotoba: (set KOTOBA_DEBUG=1 for a stack trace, and please report it)\n');
  }
  return 1;
}

main(process.argv.slice(2))
  // Output written straight to process.stdout (not through io.stdout) fails here at the latest.
  .then(async (code) => {
    await writesDone(process.stdout).catch(stdoutFailed);
    return code;
  })
  .then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (e: unknown) => {
      settled = true;
      process.exitCode = report(e);
    },
  );
