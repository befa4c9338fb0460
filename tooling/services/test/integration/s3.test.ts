import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { endpoints, uniqueName } from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'

function client(): S3Client {
  const s3 = new S3Client({
    endpoint: endpoints.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: endpoints.s3AccessKey, secretAccessKey: endpoints.s3SecretKey },
  })
  onTestFinished(() => s3.destroy())
  return s3
}

async function bucketFor(s3: S3Client): Promise<string> {
  const bucket = uniqueName('smoke')
  await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  onTestFinished(async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }))
    for (const object of listed.Contents ?? [])
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }))
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }))
  })
  return bucket
}

async function statusOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise
    return 200
  } catch (error) {
    return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  }
}

it('puts, gets and lists objects in the real S3 server', async () => {
  const s3 = client()
  const bucket = await bucketFor(s3)
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'segments/0001', Body: 'hello' }))
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'segments/0002', Body: 'world' }))
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'segments/0001' }))
  expect(await object.Body!.transformToString()).toBe('hello')
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'segments/' }))
  expect(listed.Contents?.map((entry) => entry.Key)).toEqual(['segments/0001', 'segments/0002'])
})

it('honours conditional writes (If-None-Match and If-Match), which fence zombie owners', async () => {
  const s3 = client()
  const bucket = await bucketFor(s3)
  const created = await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'manifest', Body: 'v1', IfNoneMatch: '*' }),
  )
  expect(
    await statusOf(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'manifest', Body: 'v2', IfNoneMatch: '*' })),
    ),
  ).toBe(412)
  expect(
    await statusOf(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'manifest', Body: 'v2', IfMatch: '"0000"' })),
    ),
  ).toBe(412)
  expect(
    await statusOf(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'manifest', Body: 'v2', IfMatch: created.ETag })),
    ),
  ).toBe(200)
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'manifest' }))
  expect(await object.Body!.transformToString()).toBe('v2')
})

it('completes a multipart upload', async () => {
  const s3 = client()
  const bucket = await bucketFor(s3)
  const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'snapshot' }))
  const first = Buffer.alloc(5 * 1024 * 1024, 1)
  const second = Buffer.from('tail')
  const parts = []
  for (const [index, body] of [first, second].entries()) {
    const part = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: 'snapshot',
        UploadId: upload.UploadId,
        PartNumber: index + 1,
        Body: body,
      }),
    )
    parts.push({ ETag: part.ETag, PartNumber: index + 1 })
  }
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: 'snapshot',
      UploadId: upload.UploadId,
      MultipartUpload: { Parts: parts },
    }),
  )
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'snapshot' }))
  const bytes = await object.Body!.transformToByteArray()
  expect(bytes.byteLength).toBe(first.byteLength + second.byteLength)
  expect(Buffer.from(bytes.subarray(-4)).toString()).toBe('tail')
})
