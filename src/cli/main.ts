#!/usr/bin/env node
/**
 * The `kotoba` executable: program.ts, which runs a command that estimates an n-gram model again in
 * a child process under relaunch.ts's malloc and V8 settings, unless its job is small.
 */
import './program.js';
