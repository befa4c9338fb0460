export { type MetricsServer, type ServeOptions, serveRegistry } from './metrics-server.js'
export {
  createPrometheusMetrics,
  defaultBuckets,
  type HistogramBuckets,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
} from './prometheus-metrics.js'
