/**
 * registerCleanup (seed 002 "Connection Management"): connectors that hold pools or sessions register a
 * function here when they start; the worker runs them all once on shutdown.
 */
type Cleanup = () => Promise<void> | void;
const cleanups = new Set<Cleanup>();

/** Register fn to run at shutdown. Returns a function that unregisters it. */
export function registerCleanup(fn: Cleanup): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Run every registered cleanup (in parallel), then forget them. Errors are collected, not thrown one by one. */
export async function runCleanups(): Promise<Error[]> {
  const fns = [...cleanups];
  cleanups.clear();
  const results = await Promise.allSettled(fns.map(async (fn) => fn()));
  return results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as Error);
}
