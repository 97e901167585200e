import { KotobaError } from '../errors.js';
import type { Parsed } from './args.js';
import type { CommandIO } from './common.js';

/** Neural training entry point (the neural models land with their own issue). */
export async function trainNeural(parsed: Parsed, _io: CommandIO): Promise<void> {
  throw new KotobaError(`--model ${String(parsed.options.model)} is not available in this build`, 'train an n-gram model instead (the default)');
}
