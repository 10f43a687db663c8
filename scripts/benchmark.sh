#!/usr/bin/env bash
# Regenerates the weights.rs of Tokenmeter's pallets from their benchmarks.
#
#   scripts/benchmark.sh                          # every custom pallet
#   scripts/benchmark.sh pallet_inference_credits # just these
#   STEPS=50 REPEAT=20 scripts/benchmark.sh       # the defaults
#
# 1. Builds the runtime with `--features runtime-benchmarks` in its own target directory
#    ($BENCH_TARGET_DIR, default ~/.cache/tokenmeter/bench-target), so everyday builds stay
#    incremental.
#    `--min-duration 0` keeps every benchmark to steps × repeat samples: by default the CLI
#    repeats a fast benchmark for 10 s, and the median-slopes analysis of a fast benchmark
#    with a component (hundreds of thousands of samples, compared pairwise) then exhausts the
#    machine's memory.
# 2. Builds the node as usual and runs `tokenmeter-node benchmark pallet` on that runtime's
#    wasm, writing each pallet's src/weights.rs through scripts/frame-weight-template.hbs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STEPS="${STEPS:-50}"
REPEAT="${REPEAT:-20}"
BENCH_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/tokenmeter/bench-target}"
PALLETS=("$@")
if [ ${#PALLETS[@]} -eq 0 ]; then
	PALLETS=()
	for dir in "$REPO_ROOT"/pallets/*/; do
		[ -f "$dir/src/benchmarking.rs" ] || continue
		name="$(basename "$dir")"
		PALLETS+=("pallet_${name//-/_}")
	done
fi

ensure_system_packages
ensure_rust
build_node

log "building the runtime with runtime-benchmarks in $BENCH_TARGET_DIR"
(cd "$REPO_ROOT" && CARGO_TARGET_DIR="$BENCH_TARGET_DIR" \
	cargo build --locked --release -p tokenmeter-runtime --features runtime-benchmarks)
WASM="$BENCH_TARGET_DIR/release/wbuild/tokenmeter-runtime/tokenmeter_runtime.compact.compressed.wasm"

cd "$REPO_ROOT"
for pallet in "${PALLETS[@]}"; do
	crate_dir="pallets/$(echo "${pallet#pallet_}" | tr _ -)"
	log "benchmarking $pallet (steps $STEPS, repeat $REPEAT) -> $crate_dir/src/weights.rs"
	"$NODE_BIN" benchmark pallet \
		--runtime "$WASM" \
		--genesis-builder runtime \
		--genesis-builder-preset development \
		--pallet "$pallet" \
		--extrinsic '*' \
		--steps "$STEPS" \
		--repeat "$REPEAT" \
		--min-duration 0 \
		--heap-pages 4096 \
		--template scripts/frame-weight-template.hbs \
		--output "$crate_dir/src/weights.rs"
done
log "weights regenerated; review the diff and run scripts/test.sh"
