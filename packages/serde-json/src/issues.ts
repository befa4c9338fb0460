// Turns Standard Schema issues into the text of an error message: `$.items[2].price: Expected
// number`. Paths are written the way JSONPath and most loggers show them, so a reader can find the
// field in the record without knowing which validator produced the issue.
import type { StandardSchemaV1 } from '@standard-schema/spec'

/** Issues shown in an error message; the rest are counted (all of them are in the error's context). */
const shownIssues = 3

const identifier = /^[A-Za-z_$][\w$]*$/

function pathKey(segment: PropertyKey | StandardSchemaV1.PathSegment): PropertyKey {
  return typeof segment === 'object' ? segment.key : segment
}

/**
 * The JSONPath of an issue: `$` for the root, `.name` for identifier keys, `[2]` for array
 * indexes, `["odd key"]` for other keys.
 *
 * @example
 * formatPath(['items', 2, 'unit price']) // '$.items[2]["unit price"]'
 */
export function formatPath(path: StandardSchemaV1.Issue['path']): string {
  let result = '$'
  for (const segment of path ?? []) {
    const key = pathKey(segment)
    if (typeof key === 'number') result += `[${key}]`
    else if (typeof key === 'symbol') result += `[${key.toString()}]`
    else if (identifier.test(key)) result += `.${key}`
    else result += `[${JSON.stringify(key)}]`
  }
  return result
}

/** `path: message` for the first issues, then how many more there are. */
export function formatIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): string {
  const shown = issues.slice(0, shownIssues).map((issue) => `${formatPath(issue.path)}: ${issue.message}`)
  const more = issues.length - shown.length
  return more > 0 ? `${shown.join('; ')} (and ${more} more issue${more === 1 ? '' : 's'})` : shown.join('; ')
}
