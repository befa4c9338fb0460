export { type MsgpackSerdeOptions, msgpackSerde } from './msgpack-serde.js'
