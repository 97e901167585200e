/**
 * A full garbage collection on demand, for threads that hold their data in large typed arrays:
 * V8 frees an array's memory only when a collection finds it dead, and a thread that allocates
 * few JavaScript objects rarely collects, so freed blocks would pile up past the memory budget.
 * V8 exposes `gc` to contexts created after the --expose-gc flag is set.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null | undefined;

/** V8's full collection, or a no-op where it cannot be had. */
export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}
