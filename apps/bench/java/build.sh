#!/usr/bin/env bash
# Builds the Java peers (target/classes and target/classpath.txt) unless they are newer than the
# pom and every source file. Called by src/run-java.ts before each Java side, and by
# `npm run build:java -w @kstreams/bench`. Needs a JDK 17+ and Maven; Maven Central on first run.
set -euo pipefail
cd "$(dirname "$0")"
stamp=target/classpath.txt
if [[ -f $stamp && -d target/classes ]] && [[ -z $(find pom.xml src -newer "$stamp" -print -quit) ]]; then
  exit 0
fi
mvn -q -B compile >&2
touch "$stamp"
