#!/usr/bin/env bash
# Runs a zombienet test (native provider) against the release node:
#
#   scripts/zombienet.sh four-validators   # zombienet/four-validators.zndsl
#   scripts/zombienet.sh spawn four-validators   # just start the network (Ctrl-C stops it)
#
# Installs the zombienet CLI from zombienet/package-lock.json on first use and builds the node
# if needed. The networks use the `testnet` chain with zombienet's own keys (see the .toml).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode=test
if [ "${1:-}" = spawn ]; then
	mode=spawn
	shift
fi
name="${1:?usage: scripts/zombienet.sh [spawn] <network name in zombienet/>}"

ensure_system_packages
ensure_rust
ensure_zombienet_deps
[ -x "$NODE_BIN" ] || build_node

cd "$REPO_ROOT/zombienet"
if [ "$mode" = spawn ]; then
	TOKENMETER_NODE="$NODE_BIN" npx zombienet -p native spawn "$name.toml"
else
	TOKENMETER_NODE="$NODE_BIN" npx zombienet -p native test "$name.zndsl"
fi
