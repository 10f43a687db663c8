#!/usr/bin/env python3
"""Draws docs/pricing.png from the congestion pricing simulation's CSV
(runtime/tests/pricing_simulation.rs): demand and tokens served against capacity, and the
price multiplier, per epoch. Run by scripts/plot-pricing.sh."""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

source, target = sys.argv[1], sys.argv[2]
with open(source, newline="") as f:
    rows = list(csv.DictReader(f))
epoch = [int(r["epoch"]) for r in rows]
capacity = 100_000
demand = [int(r["demand"]) / capacity * 100 for r in rows]
served = [float(r["utilisation"]) * 100 for r in rows]
multiplier = [float(r["multiplier"]) for r in rows]

fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
top.plot(epoch, demand, label="demand at the listed price", color="#999999", linestyle="--")
top.plot(epoch, served, label="served (utilisation)", color="#1f77b4")
top.axhline(50, color="#2ca02c", linewidth=0.8, linestyle=":", label="target 50%")
top.axhline(100, color="#d62728", linewidth=0.8, linestyle=":", label="capacity")
top.set_ylabel("% of capacity per epoch")
top.legend(loc="upper right", fontsize=8)
top.set_title("Congestion pricing: a burst, then a decline (elasticity 1)")
bottom.plot(epoch, multiplier, color="#ff7f0e", drawstyle="steps-post", label="price multiplier")
bottom.axhline(4, color="#d62728", linewidth=0.8, linestyle=":", label="bounds 0.5 and 4")
bottom.axhline(0.5, color="#d62728", linewidth=0.8, linestyle=":")
bottom.axhline(1, color="#999999", linewidth=0.8)
bottom.set_ylabel("× listed price")
bottom.set_xlabel("pricing epoch")
bottom.legend(loc="upper right", fontsize=8)
fig.tight_layout()
fig.savefig(target, dpi=110)
print(f"wrote {target}")
