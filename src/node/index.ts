/** Node-only entry point (`kotoba/node`): files, streams, gzip, atomic writes. */
export * from './io.js';
export * from './ngram-files.js';
export * from './corpus-files.js';
export * from './models.js';
export * from './mixture-files.js';
export * from './neural-files.js';
export * from './outputs.js';
export * from './batches.js';
export * from './workers.js';
export * from './ngram-train.js';
export { FileStorage, makeTempFolder } from './temp-storage.js';
export * from './byte-corpus.js';
