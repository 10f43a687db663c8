#!/usr/bin/env bash
# Runs the congestion pricing simulation (runtime/tests/pricing_simulation.rs: real blocks, a
# burst then a decline) and draws docs/pricing.png from its CSV with matplotlib (installed
# into a virtualenv under ~/.cache/tokenmeter/tools the first time).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ensure_system_packages
ensure_rust
TOOLS="$HOME/.cache/tokenmeter/tools"
if [ ! -x "$TOOLS/plot-venv/bin/python" ] || ! "$TOOLS/plot-venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
	log "installing matplotlib (PyPI) into $TOOLS/plot-venv"
	mkdir -p "$TOOLS"
	python3 -m venv "$TOOLS/plot-venv"
	"$TOOLS/plot-venv/bin/pip" install -q matplotlib
fi
cd "$REPO_ROOT"
CSV="$CARGO_TARGET_DIR/pricing-simulation.csv"
log "running the simulation"
PRICING_CSV="$CSV" cargo test --locked --release -p tokenmeter-runtime --test pricing_simulation
"$TOOLS/plot-venv/bin/python" scripts/plot-pricing.py "$CSV" docs/pricing.png
