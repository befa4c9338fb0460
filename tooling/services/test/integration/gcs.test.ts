import { type Bucket, Storage } from '@google-cloud/storage'
import { endpoints, uniqueName } from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'

async function createBucket(): Promise<Bucket> {
  const storage = new Storage({ apiEndpoint: endpoints.gcsEndpoint, projectId: 'kstreams-test' })
  const [bucket] = await storage.createBucket(uniqueName('smoke'))
  onTestFinished(async () => {
    await bucket.deleteFiles({ force: true }).catch(() => {})
    await bucket.delete().catch(() => {})
  })
  return bucket
}

it('creates a bucket, uploads and downloads in the real GCS server', async () => {
  const bucket = await createBucket()
  const file = bucket.file('segments/0001')
  await file.save('hello', { resumable: false })
  const [contents] = await file.download()
  expect(contents.toString()).toBe('hello')
  const [files] = await bucket.getFiles({ prefix: 'segments/' })
  expect(files.map((listed) => listed.name)).toEqual(['segments/0001'])
})

it('honours generation preconditions (ifGenerationMatch), which fence zombie owners', async () => {
  const bucket = await createBucket()
  const file = bucket.file('manifest')
  await file.save('v1', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })
  const again = file.save('v2', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })
  await expect(again).rejects.toMatchObject({ code: 412 })
  const [contents] = await file.download()
  expect(contents.toString()).toBe('v1')
})
