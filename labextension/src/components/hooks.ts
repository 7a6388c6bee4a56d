import * as React from 'react';

/** `value`, settled for `delay` ms (search-as-you-type without a request per key). */
export function useDebounced<T>(value: T, delay: number): T {
  const [settled, setSettled] = React.useState(value);
  React.useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), delay);
    return () => window.clearTimeout(timer);
  }, [value, delay]);
  return settled;
}

/**
 * Run at most `concurrency` async tasks at once (the fit estimates of a page of model cards
 * would otherwise fire fifty requests together).
 */
export function createLimiter(concurrency: number) {
  let running = 0;
  const queue: Array<() => void> = [];
  const next = (): void => {
    if (running >= concurrency) {
      return;
    }
    const start = queue.shift();
    if (start) {
      running += 1;
      start();
    }
  };
  return function limit<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push(() => {
        task()
          .then(resolve, reject)
          .finally(() => {
            running -= 1;
            next();
          });
      });
      next();
    });
  };
}

export type Limiter = ReturnType<typeof createLimiter>;
