// Ctrl-C for the commands that run the trainer: the first press asks it to stop cleanly (it finishes
// its current step, so no half-written model), the second kills it at once.

export interface Interrupts {
  /** Aborted on the first Ctrl-C: stop cleanly. */
  signal: AbortSignal;
  /** Aborted on the second Ctrl-C: kill now. */
  forceSignal: AbortSignal;
  /** Removes the SIGINT handler; call when the job is over. */
  dispose(): void;
}

export function onInterrupts(log: (line: string) => void, firstMessage: string): Interrupts {
  const stop = new AbortController();
  const force = new AbortController();
  const onSigint = () => {
    if (!stop.signal.aborted) {
      log(firstMessage);
      stop.abort();
    } else {
      force.abort();
    }
  };
  process.on('SIGINT', onSigint);
  return { signal: stop.signal, forceSignal: force.signal, dispose: () => process.off('SIGINT', onSigint) };
}
