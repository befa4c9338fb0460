// avsc reads logical types as their underlying type unless a class for them is registered; this is
// the one most schemas use. Others (decimal, uuid, date…) can be added the same way through
// typeOptions.logicalTypes.

import type { Type } from 'avsc'
import avro from 'avsc'

/**
 * The Avro logical type `timestamp-millis` (a `long` of milliseconds since the Unix epoch) read and
 * written as a JavaScript `Date`. Pass it in `typeOptions.logicalTypes`; without it avsc reads
 * such fields as plain numbers.
 *
 * @example
 * const serde = avroSerde<{ at: Date }>({
 *   schema: {
 *     type: 'record',
 *     name: 'Event',
 *     fields: [{ name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } }],
 *   },
 *   typeOptions: { logicalTypes: { 'timestamp-millis': TimestampMillisType } },
 * })
 */
export class TimestampMillisType extends avro.types.LogicalType {
  protected override _fromValue(value: number): Date {
    return new Date(value)
  }

  // Anything but a valid Date is refused (undefined makes avsc report the value as invalid).
  protected override _toValue(value: unknown): number | undefined {
    return value instanceof Date && !Number.isNaN(value.getTime()) ? value.getTime() : undefined
  }

  // Writers of plain longs and of timestamp-millis can be read as Dates.
  protected override _resolve(type: Type): ((value: number) => Date) | undefined {
    return avro.Type.isType(type, 'long', 'logical:timestamp-millis') ? (value) => new Date(value) : undefined
  }
}
