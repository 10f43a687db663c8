#!/usr/bin/env bash
# Agent payments per block against plain balance transfers, on a live dev node (release
# build); prints `figure:` lines (docs/pallets/agent-wallet.md). N (default 5000) transactions
# of each kind, enough to fill more than one block.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run_node_bench agent-payments.js
