#!/usr/bin/env bash
# Agent payments per block against plain balance transfers, on a live dev node (release
# build); prints `figure:` lines (docs/pallets/agent-wallet.md). N (default 5000) transactions
# of each kind, enough to fill more than one block.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_system_packages
ensure_rust
ensure_e2e_deps
[ -x "$NODE_BIN" ] || build_node
cd "$REPO_ROOT/e2e"
TOKENMETER_NODE="$NODE_BIN" node bench/agent-payments.js
