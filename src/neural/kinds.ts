/**
 * The neural families' names, apart from their code: the command line checks `--model` against
 * them without loading any neural module.
 */
export const NEURAL_KINDS = ['loglinear', 'ffnn', 'rnn', 'gru', 'lstm', 'transformer'] as const;
export type NeuralKind = (typeof NEURAL_KINDS)[number];
