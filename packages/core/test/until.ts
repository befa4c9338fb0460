// Waits, in the unit tests that run the real runtime over SimulatedKafka, until a condition holds.

/** Resolves once `condition()` is true, checking every 5 ms; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
