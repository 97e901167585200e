/** The uses of a language model, each written once against `LanguageModel`: browser-safe. */
export * from './nextword.js';
export * from './generate.js';
export * from './rerank.js';
export * from './mixture.js';
export * from './score-text.js';
export * from './documents.js';
