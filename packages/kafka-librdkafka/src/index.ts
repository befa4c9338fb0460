export type {
  Binding as LibrdkafkaBinding,
  BindingConsumer as LibrdkafkaBindingConsumer,
  BindingProducer as LibrdkafkaBindingProducer,
} from './binding.js'
export { loadBinding as loadLibrdkafkaBinding } from './binding.js'
export {
  createLibrdkafkaKafkaPort,
  type LibrdkafkaKafkaPortOptions,
  librdkafkaVersion,
} from './librdkafka-kafka-port.js'
