#!/usr/bin/env bash
# Usage settled per block on a live dev node (release build), attested by the node's own
# off-chain worker: N (default 2,560) distinct users with credits and vouchers, one feed record
# each; prints a table and `figure:` lines (docs/performance.md). WRAPPED=1 signs the vouchers
# the way browser wallets do.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_system_packages
ensure_rust
ensure_e2e_deps
[ -x "$NODE_BIN" ] || build_node
cd "$REPO_ROOT/e2e"
TOKENMETER_NODE="$NODE_BIN" node bench/settlement.js
