// Where the real servers from tooling/services listen. The defaults match tooling/services/env.sh.
export const endpoints = {
  kafkaBootstrapServers: (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(','),
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  s3Endpoint: process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7070',
  s3AccessKey: process.env.S3_ACCESS_KEY ?? 'kstreams',
  s3SecretKey: process.env.S3_SECRET_KEY ?? 'kstreams-secret',
  gcsEndpoint: process.env.GCS_ENDPOINT ?? 'http://127.0.0.1:4443',
  bigtableEmulatorHost: process.env.BIGTABLE_EMULATOR_HOST ?? '127.0.0.1:8086',
} as const
