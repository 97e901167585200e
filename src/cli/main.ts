#!/usr/bin/env node
/**
 * The `kotoba` executable. A command that estimates an n-gram model starts itself again under
 * relaunch.ts's malloc and V8 settings; the decision comes before the command line's modules load,
 * so the waiting parent holds none of them. Everything else runs program.ts in this process.
 */
import { estimates, relaunch, shouldRelaunch } from './relaunch.js';

if (estimates(process.argv.slice(2)) && shouldRelaunch()) process.exitCode = await relaunch();
else await import('./program.js');
