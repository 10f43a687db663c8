#!/usr/bin/env bash
# Usage settled per block on a live dev node (release build), attested by the node's own
# off-chain worker: N (default 2,560) distinct users with credits and vouchers, one feed record
# each; prints a table and `figure:` lines (docs/performance.md). WRAPPED=1 signs the vouchers
# the way browser wallets do.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run_node_bench settlement.js
