// The Java peers (apps/bench/java): builds them when their sources changed (java/build.sh), then
// runs `java -cp … kstreams.bench.Main BENCH_JAVA_PEER BENCH_MODE` with this process's environment
// (BENCH_INPUT, BENCH_OUTPUT, BENCH_GROUP, BENCH_BACKEND, BENCH_ASYNC_MS, KAFKA_BOOTSTRAP_SERVERS).
// The JVM writes "ready" and its own CPU and peak-RSS report lines to the inherited stdout, so the
// harness measures the JVM, not this wrapper; SIGTERM is passed on, and the JVM halts if this
// wrapper dies. BENCH_JAVA_OPTIONS adds JVM options (e.g. "-Xmx512m"); the default heap is the
// JVM's own. (--rss-curve samples this wrapper's pid, so it does not show the JVM's curve.)
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const { BENCH_JAVA_PEER, BENCH_MODE, BENCH_JAVA_OPTIONS } = process.env
const project = fileURLToPath(new URL('../java/', import.meta.url))
execFileSync('bash', [`${project}build.sh`], { stdio: ['ignore', 'inherit', 'inherit'] })
const classpath = `${project}target/classes:${readFileSync(`${project}target/classpath.txt`, 'utf8').trim()}`
const java = spawn(
  'java',
  [
    ...(BENCH_JAVA_OPTIONS ?? '').split(' ').filter((option) => option !== ''),
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
    '-cp',
    classpath,
    'kstreams.bench.Main',
    BENCH_JAVA_PEER ?? 'kafka-streams',
    BENCH_MODE!,
  ],
  { stdio: ['ignore', 'inherit', 'inherit'] },
)
process.on('SIGTERM', () => java.kill('SIGTERM'))
java.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
