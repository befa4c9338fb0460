#!/usr/bin/env bash
# Builds @confluentinc/kafka-javascript (librdkafka 2.15, its bundled source) into native/node_modules.
# A separate step, not part of `npm ci`: the native build takes minutes on 2 cores, and its
# prebuilt binaries are downloaded from outside the npm registry, which this machine cannot reach.
# Needs a C/C++ toolchain, make, python3 and the OpenSSL and zlib headers (libssl-dev, zlib1g-dev);
# links librdkafka dynamically against them (CKJS_LINKING=dynamic), so that its configure step
# downloads nothing. Idempotent: a binding that loads is left as it is.
#   npm run install-native -w @kstreams/kafka-librdkafka
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
# shellcheck source=../../../tooling/node/ensure-node.sh
source "$HERE/../../../tooling/node/ensure-node.sh"
if node -e "require('@confluentinc/kafka-javascript')" >/dev/null 2>&1; then
  echo "@confluentinc/kafka-javascript is built: $(node -p "require('@confluentinc/kafka-javascript').librdkafkaVersion") (librdkafka)"
  exit 0
fi
started=$SECONDS
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
cd node_modules/@confluentinc/kafka-javascript
export CKJS_LINKING=dynamic npm_config_build_from_source=true
# node-pre-gyp falls back to node-gyp. The first make stops on "No rule to make target
# ../deps/librdkafka/config.h" (the configure action's output is not a make target on the first
# pass); config.h exists then, and the second pass builds.
nice -n 10 npx --no node-pre-gyp install --fallback-to-build >/dev/null 2>&1 ||
  nice -n 10 npx --no node-pre-gyp install --fallback-to-build
cd "$HERE"
node -e "require('@confluentinc/kafka-javascript')"
echo "built @confluentinc/kafka-javascript (librdkafka $(node -p "require('@confluentinc/kafka-javascript').librdkafkaVersion")) in $((SECONDS - started)) s"
