// Fetch v17 with the response parsed for the fetcher: the client's own parser decodes every record
// batch into objects; this one reads the response's fields with the client's Reader but keeps each
// partition's records as one contiguous Buffer, which `RecordBatchReader` decodes straight into
// FetchedRecords. The request is the client's (`fetchV17.createRequest`). A response with errors
// is thrown as the client's `ResponseError` carrying the parsed response, as the client does.
import { createAPI, fetchV17, type Reader, ResponseError } from '@platformatic/kafka'

export interface FetchPartitionResponse {
  partitionIndex: number
  errorCode: number
  highWatermark: bigint
  lastStableOffset: bigint
  logStartOffset: bigint
  abortedTransactions: Array<{ producerId: bigint; firstOffset: bigint }> | null
  preferredReadReplica: number
  /** The partition's record batches, undecoded; null when the broker sent none. */
  records: Buffer | null
}

export interface FetchResponse {
  throttleTimeMs: number
  errorCode: number
  sessionId: number
  responses: Array<{ topicId: string; partitions: FetchPartitionResponse[] }>
}

type FetchArguments = Parameters<typeof fetchV17.createRequest>

/** Skips a tagged-field section (the fetcher reads none of Fetch v17's tagged fields). */
function skipTaggedFields(reader: Reader): void {
  const count = reader.readUnsignedVarInt()
  for (let index = 0; index < count; index++) {
    reader.readUnsignedVarInt() // tag
    reader.skip(reader.readUnsignedVarInt())
  }
}

/** Fetch response v17: see the Kafka protocol guide (FetchResponse, flexible versions). */
export function parseFetchResponse(
  _correlationId: number,
  apiKey: number,
  apiVersion: number,
  reader: Reader,
): FetchResponse {
  const errors: Array<[string, [number, null]]> = []
  const throttleTimeMs = reader.readInt32()
  const errorCode = reader.readInt16()
  if (errorCode !== 0) errors.push(['', [errorCode, null]])
  const sessionId = reader.readInt32()
  const responses = reader.readArray((topicReader, topicIndex) => ({
    topicId: topicReader.readUUID(),
    partitions: topicReader.readArray(
      (partitionReader, partitionIndex): FetchPartitionResponse => {
        const partition: FetchPartitionResponse = {
          partitionIndex: partitionReader.readInt32(),
          errorCode: partitionReader.readInt16(),
          highWatermark: partitionReader.readInt64(),
          lastStableOffset: partitionReader.readInt64(),
          logStartOffset: partitionReader.readInt64(),
          abortedTransactions: partitionReader.readNullableArray((entry) => ({
            producerId: entry.readInt64(),
            firstOffset: entry.readInt64(),
          })),
          preferredReadReplica: partitionReader.readInt32(),
          records: null,
        }
        if (partition.errorCode !== 0)
          errors.push([`/responses/${topicIndex}/partitions/${partitionIndex}`, [partition.errorCode, null]])
        // COMPACT_RECORDS: the length plus one; 0 is null.
        const size = partitionReader.readUnsignedVarInt() - 1
        if (size > 0) {
          // One Buffer: a view when the bytes arrived in one socket chunk, else a copy.
          partition.records = partitionReader.buffer.slice(
            partitionReader.position,
            partitionReader.position + size,
          )
          partitionReader.skip(size)
        }
        skipTaggedFields(partitionReader)
        return partition
      },
      true,
      false,
    ),
  }))
  skipTaggedFields(reader)
  const response: FetchResponse = { throttleTimeMs, errorCode, sessionId, responses }
  if (errors.length > 0) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response)
  return response
}

/** Fetch v17, called as the client's `fetchV17.api` is; answers with `FetchResponse`. */
export const fetchApi = createAPI<FetchArguments, FetchResponse>(
  1,
  17,
  fetchV17.createRequest,
  parseFetchResponse,
)
