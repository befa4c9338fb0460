export { createS3Backend, type S3BackendOptions } from './s3-backend.js'
export { S3Storage, type S3StorageOptions } from './s3-storage.js'
