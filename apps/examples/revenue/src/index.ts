export { buildRevenueTopology, type Order, type RevenueTopics, revenueKeySerde } from './topology.js'
