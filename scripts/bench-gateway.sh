#!/usr/bin/env bash
# The gateway against the direct path and LiteLLM's proxy, in one run (docs/gateway.md):
# requests/s and latency at 8 connections, latency at 1,000 requests/s, streaming time to first
# byte, memory at 10,000 users; then the same gateway in front of a real model (llama-server with
# SmolLM2-135M-Instruct) against the model server directly: output tokens/s and time to first
# token at 1, 4 and 8 concurrent streams (e2e/bench/real-model.js); and what a fleet's shared
# priority queue costs on PostgreSQL (e2e/bench/gateway-fleet.js). Installs wrk (Debian),
# LiteLLM (PyPI, in a virtualenv under ~/.cache/tokenmeter/tools) and the model server (PyPI,
# built once) the first time; builds the node, the gateway and the benchmark's fake upstream
# and load generator (gateway/examples). About 6 minutes once built.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_system_packages
ensure_rust
ensure_e2e_deps
ensure_model_server
command -v wrk >/dev/null || {
	log "installing wrk"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
}
TOOLS="$HOME/.cache/tokenmeter/tools"
if [ ! -x "$TOOLS/litellm-venv/bin/litellm" ]; then
	log "installing LiteLLM's proxy (PyPI) into $TOOLS/litellm-venv"
	mkdir -p "$TOOLS"
	python3 -m venv "$TOOLS/litellm-venv"
	"$TOOLS/litellm-venv/bin/pip" install -q "litellm[proxy]"
fi
cd "$REPO_ROOT"
build_node
log "building the gateway and its benchmark tools"
cargo build --locked --release -p tokenmeter-gateway --bins --examples
cd "$REPO_ROOT/e2e"
TOKENMETER_NODE="$NODE_BIN" TOKENMETER_EXAMPLES="$CARGO_TARGET_DIR/release/examples" \
	LITELLM="$TOOLS/litellm-venv/bin/litellm" node bench/gateway.js
TOKENMETER_NODE="$NODE_BIN" TOKENMETER_EXAMPLES="$CARGO_TARGET_DIR/release/examples" \
	node bench/gateway-fleet.js
TOKENMETER_NODE="$NODE_BIN" node bench/real-model.js
