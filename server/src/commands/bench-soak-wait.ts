// Waiting in the soak: a pause, and a promise raced against a timeout that never holds the process.

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** `p`, or `fallback` after `ms`; the timer is cleared either way, so it never holds the process. */
export async function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<F>((done) => (timer = setTimeout(() => done(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
