/** What a store is told when its task opens it. */
export interface StateStoreContext {
  applicationId: string
  taskId: string
  /** Partition of the task, which is the changelog partition. */
  partition: number
  /** Root directory for persistent stores. */
  stateDir: string
}

/**
 * The lifecycle every state store has. Typed stores (key-value, window) build on it.
 */
export interface StateStore {
  readonly name: string
  /** True when the store keeps its data on disk or in a durable service. */
  readonly persistent: boolean
  /** Opens the store for a task. Called once, before the first record. */
  init(context: StateStoreContext): void | Promise<void>
  /** Makes every write so far durable in the backend. Called at every commit. */
  flush(): void | Promise<void>
  close(): void | Promise<void>
}

/** Makes a fresh store for each task that uses it. */
export interface StoreBuilder<S extends StateStore = StateStore> {
  readonly name: string
  build(): S
}
