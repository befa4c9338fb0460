import type { Topology, TopologyNode } from './topology.js'

export interface TopologyDescription {
  /** Readable text, one block per sub-topology, in the style of Kafka Streams' describe(). */
  text: string
  /** A Mermaid flowchart (paste into any Markdown that renders Mermaid). */
  mermaid: string
  toString(): string
}

function label(node: TopologyNode): string {
  switch (node.kind) {
    case 'source':
      return `Source: ${node.name} (topics: [${node.topics.join(', ')}])`
    case 'processor':
      return `Processor: ${node.name} (stores: [${node.stores.join(', ')}])`
    case 'sink':
      return `Sink: ${node.name} (topic: ${typeof node.topic === 'string' ? node.topic : '<chosen per record>'})`
  }
}

function mermaidId(name: string): string {
  return `n_${name.replace(/[^A-Za-z0-9_]/g, (character) => `_${character.charCodeAt(0).toString(16)}`)}`
}

function mermaidText(text: string): string {
  return text.replace(/"/g, '#quot;')
}

export function describeTopology(topology: Topology): TopologyDescription {
  const lines = ['Topologies:']
  const mermaid = ['flowchart LR']
  for (const subtopology of topology.subtopologies) {
    const { mode, maxInFlight, orderingKey } = subtopology.concurrency
    const concurrency =
      mode === 'partition'
        ? 'concurrency: partition'
        : `concurrency: ${mode}, maxInFlight: ${maxInFlight}${mode === 'key' ? `, ordering key: ${orderingKey ? 'a function' : 'the record key'}` : ''}${subtopology.concurrency.conflate ? ', conflated' : ''}`
    lines.push(`  Sub-topology: ${subtopology.id} (${concurrency})`)
    mermaid.push(`  subgraph sub${subtopology.id}["Sub-topology ${subtopology.id}"]`)
    for (const node of subtopology.nodes) {
      const children = topology.children.get(node.name) ?? []
      const parents = node.kind === 'source' ? [] : node.parents
      lines.push(`    ${label(node)}`)
      if (children.length > 0) lines.push(`      --> ${children.join(', ')}`)
      if (parents.length > 0) lines.push(`      <-- ${parents.join(', ')}`)
      const id = mermaidId(node.name)
      const text = mermaidText(node.name)
      if (node.kind === 'source') mermaid.push(`    ${id}[/"${text}"/]`)
      else if (node.kind === 'sink') mermaid.push(`    ${id}[\\"${text}"\\]`)
      else mermaid.push(`    ${id}["${text}"]`)
    }
    mermaid.push('  end')
    for (const node of subtopology.nodes) {
      if (node.kind === 'source') {
        for (const topic of node.topics) {
          mermaid.push(
            `  ${mermaidId(`topic:${topic}`)}(["${mermaidText(topic)}"]) --> ${mermaidId(node.name)}`,
          )
        }
      }
      for (const child of topology.children.get(node.name) ?? []) {
        mermaid.push(`  ${mermaidId(node.name)} --> ${mermaidId(child)}`)
      }
      if (node.kind === 'sink' && typeof node.topic === 'string') {
        mermaid.push(
          `  ${mermaidId(node.name)} --> ${mermaidId(`topic:${node.topic}`)}(["${mermaidText(node.topic)}"])`,
        )
      }
      if (node.kind === 'processor') {
        for (const store of node.stores) {
          mermaid.push(
            `  ${mermaidId(node.name)} -.- ${mermaidId(`store:${store}`)}[("${mermaidText(store)}")]`,
          )
        }
      }
    }
  }
  if (topology.internalTopics.size > 0) {
    lines.push('  Internal topics:')
    for (const topic of topology.internalTopics.values()) {
      const partitions =
        typeof topic.partitions === 'number'
          ? `${topic.partitions} partition(s)`
          : `partitions as [${topic.partitions.sameAs.join(', ')}]`
      const name = topic.topic ?? `<applicationId>-${topic.name}`
      lines.push(`    ${topic.kind}: ${name} (${partitions})`)
      mermaid.push(`  ${mermaidId(`topic:${topic.topic ?? topic.name}`)}(["${mermaidText(name)}"])`)
    }
  }
  if (topology.stores.size > 0) {
    lines.push('  Stores:')
    for (const store of topology.stores.values()) {
      const owner = topology.subtopologies.find((subtopology) => subtopology.stores.includes(store.name))
      const changelog =
        store.sourceChangelog !== undefined
          ? `restored from source topic ${store.sourceChangelog}`
          : store.logging === false
            ? 'no changelog'
            : `changelog: ${topology.applicationId ?? '<applicationId>'}-${store.name}-changelog`
      lines.push(
        `    ${store.name} (${store.persistent ? 'persistent' : 'in memory'}, ${changelog}${owner ? `, sub-topology ${owner.id}` : ''})`,
      )
    }
  }
  if (topology.globalStores.size > 0) {
    lines.push('  Global stores:')
    for (const global of topology.globalStores.values()) {
      lines.push(`    Global store: ${global.name} (topic: ${global.topic})`)
      const storeId = mermaidId(`store:${global.name}`)
      mermaid.push(
        `  ${mermaidId(`topic:${global.topic}`)}(["${mermaidText(global.topic)}"]) ==> ${storeId}[("${mermaidText(global.name)} (global)")]`,
      )
    }
  }
  const text = `${lines.join('\n')}\n`
  const chart = `${mermaid.join('\n')}\n`
  return { text, mermaid: chart, toString: () => text }
}
