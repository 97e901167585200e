/**
 * Entry of the library bundle for the web (web/dist/kotoba.js): kotoba's browser-safe root and
 * the numeric kernels, whose WebAssembly builds are embedded as base64, so that a page can
 * `import { … } from './kotoba.js'` with no other file to serve.
 *
 * @example
 * // <script type="module">
 * import { corpusFromText, estimate, BackoffModel, scoreSentence } from './dist/kotoba.js';
 * const model = BackoffModel.fromTables(estimate(corpusFromText('私は読書が好きだ', { segment: 'ja' }), { order: 3 }));
 */
export * from '../src/index.js';
export { availableKernelBackends, createJsKernels, createKernels, floatsFor } from '../src/neural/kernels/index.js';
export type { KernelBackend, KernelOptions, Kernels } from '../src/neural/kernels/index.js';
