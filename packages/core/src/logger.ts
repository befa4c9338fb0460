/** Where kstreams writes what it does. Any console-like or pino-like object fits. */
export interface Logger {
  debug(message: string, fields?: object): void
  info(message: string, fields?: object): void
  warn(message: string, fields?: object): void
  error(message: string, fields?: object): void
}

function write(level: string, message: string, fields?: object): void {
  const suffix = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields, bigintReplacer)}` : ''
  process.stderr.write(`[kstreams] ${level} ${message}${suffix}\n`)
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value
}

/** Writes info and above to stderr. */
export const consoleLogger: Logger = {
  debug: () => {},
  info: (message, fields) => write('info', message, fields),
  warn: (message, fields) => write('warn', message, fields),
  error: (message, fields) => write('error', message, fields),
}

/** Writes nothing. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
