/**
 * Whether `promise` fulfils within `ms`: true if it does, false once `ms` pass first (the promise
 * is left to run); a rejection within `ms` is passed on. Shutdown and readiness use it to bound
 * waits on pools, listeners and dependencies that may never answer.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
