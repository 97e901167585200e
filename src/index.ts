/**
 * kotoba: language models in TypeScript. This root is browser-safe (no `node:` imports);
 * file and stream helpers are in `kotoba/node`.
 */
export * from './errors.js';
export * from './lm.js';
export * from './text/vocabulary.js';
export * from './text/tokenize.js';
export * from './text/segment.js';
export * from './text/text-options.js';
export * from './text/corpus.js';
export * from './text/word-table.js';
export * from './text/byte-tokenizer.js';
export * from './ngram/tables.js';
export * from './ngram/count.js';
export * from './ngram/smoothing.js';
export * from './ngram/estimate.js';
export { MemoryBudget, MemoryStorage, memoryEnv } from './ngram/records.js';
export type { PendingJob, RowCursor, RowSpec, RunStorage, SortJob, SortPool, SortResult, StoredRun, StreamEnv } from './ngram/records.js';
export { estimateFromCounts, f32Bits, f32FromBits, NgramCounter } from './ngram/pipeline.js';
export type { ModelSink, PipelineLog, PipelineOptions, PipelineResult } from './ngram/pipeline.js';
export * from './ngram/count-file.js';
export * from './ngram/model.js';
export * from './ngram/arpa.js';
export * from './ngram/binary.js';
export * from './ngram/prune.js';
export * from './ngram/log10f.js';
export * from './ngram/sweep.js';
export * from './ngram/mixture-arpa.js';
export * from './util/report.js';
export * from './util/float32.js';
export * from './apps/index.js';
export * from './neural/index.js';
