#!/usr/bin/env bash
# Regenerates the weights of every pallet in Tokenmeter's runtime from benchmarks run on this
# runtime: Tokenmeter's own pallets into pallets/<name>/src/weights.rs, the polkadot-sdk pallets
# it configures (system, balances, governance, treasury, ...) into runtime/src/weights/<pallet>.rs.
#
#   scripts/benchmark.sh                          # every pallet
#   scripts/benchmark.sh pallet_inference_credits # just these
#   scripts/benchmark.sh --sdk                    # just the polkadot-sdk pallets
#   STEPS=50 REPEAT=20 scripts/benchmark.sh       # the defaults
#
# 1. Installs `frame-omni-bencher` (crates.io, the polkadot-sdk release this workspace uses) into
#    ~/.cache/tokenmeter/tools once; the node itself carries no benchmark CLI, which keeps the
#    everyday node build free of the cumulus/polkadot crates that CLI pulls in.
# 2. Builds the runtime with `--features runtime-benchmarks` in its own target directory
#    ($BENCH_TARGET_DIR, default ~/.cache/tokenmeter/bench-target), so everyday builds stay
#    incremental.
# 3. Runs `frame-omni-bencher v1 benchmark pallet` on that runtime's wasm with the runtime's
#    `development` genesis preset, writing each pallet's src/weights.rs through
#    scripts/frame-weight-template.hbs. `--min-duration 0` keeps every benchmark to
#    steps × repeat samples: by default the CLI repeats a fast benchmark for 10 s, and the
#    median-slopes analysis of a fast benchmark with a component (hundreds of thousands of
#    samples, compared pairwise) then exhausts the machine's memory.
#    The SDK pallets' files come from the CLI's own template (`impl pallet_x::WeightInfo for
#    WeightInfo<T>`, `frame_system::ExtensionsWeightInfo` for the transaction extensions), and
#    runtime/src/configs/ names them. Not benchmarked: aura (no benchmarks), grandpa (its one
#    benchmark checks equivocation proofs, which this runtime does not take) and session (its
#    benchmarks need pallet-staking).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

STEPS="${STEPS:-50}"
REPEAT="${REPEAT:-20}"
BENCH_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/tokenmeter/bench-target}"
# The polkadot-sdk pallets of runtime/src/benchmarks.rs, weighed on this runtime.
SDK_PALLETS=(
	frame_system frame_system_extensions pallet_balances pallet_timestamp pallet_sudo
	pallet_utility pallet_transaction_payment pallet_preimage pallet_scheduler
	pallet_conviction_voting pallet_referenda pallet_treasury pallet_bounties pallet_parameters
)
CUSTOM_PALLETS=()
for dir in "$REPO_ROOT"/pallets/*/; do
	[ -f "$dir/src/benchmarking.rs" ] || continue
	name="$(basename "$dir")"
	CUSTOM_PALLETS+=("pallet_${name//-/_}")
done
PALLETS=("$@")
if [ ${#PALLETS[@]} -eq 0 ]; then
	PALLETS=("${CUSTOM_PALLETS[@]}" "${SDK_PALLETS[@]}")
elif [ "${PALLETS[0]}" = "--sdk" ]; then
	PALLETS=("${SDK_PALLETS[@]}")
fi

OMNI_BENCHER_VERSION=0.28.0
TOOLS_DIR="$HOME/.cache/tokenmeter/tools"
OMNI_BENCHER="$TOOLS_DIR/bin/frame-omni-bencher"

ensure_system_packages
ensure_rust

if ! "$OMNI_BENCHER" --version 2>/dev/null | grep -q "$OMNI_BENCHER_VERSION"; then
	# It builds RocksDB (through sc-cli's defaults), whose bindings need libclang.
	if ! ls /usr/lib/llvm-*/lib/libclang*.so >/dev/null 2>&1; then
		log "installing libclang-dev (for frame-omni-bencher's RocksDB)"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev
	fi
	log "installing frame-omni-bencher $OMNI_BENCHER_VERSION into $TOOLS_DIR (once, about 27 min)"
	cargo install --locked frame-omni-bencher --version "$OMNI_BENCHER_VERSION" --root "$TOOLS_DIR"
fi

log "building the runtime with runtime-benchmarks in $BENCH_TARGET_DIR"
(cd "$REPO_ROOT" && CARGO_TARGET_DIR="$BENCH_TARGET_DIR" \
	cargo build --locked --release -p tokenmeter-runtime --features runtime-benchmarks)
WASM="$BENCH_TARGET_DIR/release/wbuild/tokenmeter-runtime/tokenmeter_runtime.compact.compressed.wasm"

cd "$REPO_ROOT"
mkdir -p runtime/src/weights
for pallet in "${PALLETS[@]}"; do
	crate_dir="pallets/$(echo "${pallet#pallet_}" | tr _ -)"
	if [ -f "$crate_dir/src/benchmarking.rs" ]; then
		template=(--template scripts/frame-weight-template.hbs)
		output="$crate_dir/src/weights.rs"
	elif [[ " ${SDK_PALLETS[*]} " == *" $pallet "* ]]; then
		template=(--header scripts/runtime-weight-header.txt)
		output="runtime/src/weights/$pallet.rs"
	else
		log "$pallet is neither one of pallets/ nor in SDK_PALLETS (runtime/src/benchmarks.rs)"
		exit 1
	fi
	log "benchmarking $pallet (steps $STEPS, repeat $REPEAT) -> $output"
	"$OMNI_BENCHER" v1 benchmark pallet \
		--runtime "$WASM" \
		--genesis-builder runtime \
		--genesis-builder-preset development \
		--pallet "$pallet" \
		--extrinsic '*' \
		--steps "$STEPS" \
		--repeat "$REPEAT" \
		--min-duration 0 \
		--heap-pages 4096 \
		"${template[@]}" \
		--output "$output"
done
log "weights regenerated; review the diff and run scripts/test.sh"
