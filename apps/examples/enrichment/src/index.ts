export {
  buildEnrichmentTopology,
  type Customer,
  type EnrichedOrder,
  type EnrichmentTopics,
  type Order,
  type Product,
  revenueKeySerde,
} from './topology.js'
