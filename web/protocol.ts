/**
 * Messages between the demo page (main.ts) and its Web Worker (worker.ts). Every request has an
 * id; the worker answers with any number of `progress` messages and then one `done` or `error`.
 */

/** How text becomes words: the same options as the CLI's --segment and --lowercase. */
export interface TextSettings {
  /** '' (split on spaces), a locale such as 'ja', or 'auto'. */
  segment: string;
  lowercase: boolean;
}

export type Request =
  | {
      id: number;
      type: 'train';
      /** A URL to fetch (named as the page shows it, e.g. corpus/wiki.train.txt) or a file the user chose. */
      source: { url: string; name: string } | { file: Blob; name: string };
      order: number;
      smoothing: string;
      text: TextSettings;
    }
  | { id: number; type: 'load'; file: Blob; name: string }
  | { id: number; type: 'analyze'; sentence: string; candidates: string[]; k: number; text: TextSettings }
  | { id: number; type: 'sample'; prefix: string; seed: number; count: number; maxWords: number; text: TextSettings };

export interface ModelInfo {
  description: string;
  /** 'ngram' or a neural family. */
  family: string;
  vocabulary: number;
  /** N-grams per order (n-gram models). */
  ngrams?: number[];
  seconds: number;
  /** Kernel backend the neural models use (or would use) in this browser. */
  kernels: string;
  /** How the model reads text (its stored text options); absent when its file does not say. */
  text?: TextSettings;
  /**
   * Threads the kernels run on: every core where the page is cross-origin isolated (the demo
   * server sends COOP/COEP), else 1. For an n-gram model, what a neural model would get.
   */
  threads: number;
}

export interface WordResult {
  word: string;
  log10: number;
  ngram: number | null;
  oov: boolean;
}

export interface AnalyzeResult {
  words: WordResult[];
  /** Sentence log10 probability, </s> included (float32 sum, as the CLI's score). */
  total: number;
  /** 10^(-total/N), N = words + </s>, OOVs included (as the CLI's ppl). */
  perplexity: number;
  perplexityExcludingOov: number;
  oov: number;
  tokens: number;
  /** Top next words after the sentence so far (from <s>), best first. */
  next: { word: string; probability: number; log10: number }[];
  /** Why there is no next-word list, when there is none. */
  nextNote?: string;
  /** The candidates, best first (ties keep input order). */
  ranked: { sentence: string; total: number; perplexity: number; oov: number }[];
}

export interface SampleResult {
  /** Each sample's words (the prefix included) and its text as shown. */
  samples: { words: string[]; text: string }[];
}

export type Response =
  | { id: number; type: 'progress'; message: string; fraction?: number }
  | { id: number; type: 'done'; result: ModelInfo | AnalyzeResult | SampleResult }
  | { id: number; type: 'error'; message: string };
