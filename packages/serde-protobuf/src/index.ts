export {
  type ConversionOptions,
  defaultConversionOptions,
  loadProtobufType,
  type ProtobufSerdeOptions,
  protobufSerde,
} from './protobuf-serde.js'
export {
  createRegistryProtobufSerde,
  type RegistryProtobufSerde,
  type RegistryProtobufSerdeOptions,
} from './registry-protobuf-serde.js'
