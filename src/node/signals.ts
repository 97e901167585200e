/** A signal this soon after the previous one is the same one delivered twice (milliseconds). */
export const REPEATED_SIGNAL_MS = 1000;
