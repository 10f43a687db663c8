#!/usr/bin/env bash
# Runs the runtime fuzzer (fuzz/, crate tokenmeter-fuzz) for a given time and prints its
# report: runs, blocks, transactions, the calls reached, panics and invariant violations.
#
#   scripts/fuzz.sh                 # one minute, seed 1
#   scripts/fuzz.sh 3600            # an hour
#   scripts/fuzz.sh 3600 42         # an hour from seed 42
#   BLOCKS=60 MAX_TXS=32 scripts/fuzz.sh 600
#
# Built with the whole workspace in release mode in the shared target directory (building
# the one crate alone would unify features differently and rebuild the runtime). Exits non-zero when
# a panic or an invariant violation was found; the report names the seed and block, and
# `tokenmeter-fuzz --seed <seed> --runs 1 --blocks <blocks>` replays that run.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECONDS_TO_RUN="${1:-60}"
SEED="${2:-1}"
BLOCKS="${BLOCKS:-40}"
MAX_TXS="${MAX_TXS:-24}"

ensure_system_packages
ensure_rust
cd "$REPO_ROOT"
build_node
log "fuzzing for ${SECONDS_TO_RUN} s from seed ${SEED} (${BLOCKS} blocks per run, up to ${MAX_TXS} transactions per block)"
exec "$CARGO_TARGET_DIR/release/tokenmeter-fuzz" --seed "$SEED" --seconds "$SECONDS_TO_RUN" \
	--blocks "$BLOCKS" --max-txs "$MAX_TXS"
