// The conformance suite again, with a write buffer of one byte: every write goes to Bigtable at
// once, so reads, scans and counts merge an almost empty buffer over rows really stored.
import { storeTestSuite } from '@kstreams/store-test-suite'
import { it } from 'vitest'
import { createBigtableBackend } from '../../src/index.js'
import { dataRowKey, family, instanceId, projectId, readCell, testTable } from './helpers.js'

const tableId = testTable('conformance-spilling')

await storeTestSuite(
  it,
  createBigtableBackend({
    projectId,
    instanceId,
    tableId,
    columnFamily: family,
    createTable: true,
    scanPageSize: 64,
    maxBufferedBytes: 1,
  }),
  {
    backdoor: {
      read: (context, key) =>
        readCell(tableId, dataRowKey(context.applicationId, context.storeName, context.partition, key)),
    },
  },
)
