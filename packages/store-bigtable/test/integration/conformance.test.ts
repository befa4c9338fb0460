import { storeTestSuite } from '@kstreams/store-test-suite'
import { it } from 'vitest'
import { createBigtableBackend } from '../../src/index.js'
import { dataRowKey, family, instanceId, projectId, readCell, testTable } from './helpers.js'

const tableId = testTable('conformance')

await storeTestSuite(
  it,
  // A small page size, so that scans cross pages.
  createBigtableBackend({
    projectId,
    instanceId,
    tableId,
    columnFamily: family,
    createTable: true,
    scanPageSize: 64,
  }),
  {
    backdoor: {
      // Reads the row with the client's own Table API, at the row key the README documents.
      read: (context, key) =>
        readCell(tableId, dataRowKey(context.applicationId, context.storeName, context.partition, key)),
    },
  },
)
