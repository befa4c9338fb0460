export type { AvroSchema, AvroTypeOptions } from './avro-schema.js'
export { type AvroEvolutionSerdeOptions, type AvroSerdeOptions, avroSerde } from './avro-serde.js'
export { TimestampMillisType } from './logical-types.js'
export {
  createRegistryAvroSerde,
  type RegistryAvroSerde,
  type RegistryAvroSerdeOptions,
} from './registry-avro-serde.js'
