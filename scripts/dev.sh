#!/usr/bin/env bash
# Runs a Tokenmeter development node: installs what is missing, builds the node in release
# mode, and starts `--dev` (one validator, Alice; state in a temporary directory).
#
#   scripts/dev.sh                 # fresh chain every start
#   scripts/dev.sh --base-path d   # extra flags go to the node (drop --tmp to keep state)
#
# RPC: ws://127.0.0.1:9944 — connect Polkadot.js Apps there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_system_packages
ensure_rust
build_node

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--tmp)
log "starting $NODE_BIN --dev ${args[*]}"
exec "$NODE_BIN" --dev --rpc-cors all "${args[@]}"
