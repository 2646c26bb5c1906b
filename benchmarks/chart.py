"""chart.png: per-request cost and round trips per request, by system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {
    "floor": "#999999",
    "ours": "#1b7837",
    "original": "#b2abd2",
    "peer": "#d6604d",
}


def _rows(gathered: dict[str, Any], size: int) -> list[tuple[Any, float, float]]:
    rows = []
    for system in gathered["systems"]:
        result = gathered["results"].get(system.name, {})
        if "requests" in result:
            network = result["counts"][str(size)]["network"]
            network = max(network) if isinstance(network, list) else network
            rows.append(
                (system, result["requests"][str(size)]["median"] / 1e3, network)
            )
    return rows


def draw(gathered: dict[str, Any], path: Path) -> str | None:
    """Draw the chart; return its file name, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from benchmarks.report import reference_size

    size = reference_size(gathered["options"])
    rows = _rows(gathered, size)[::-1]
    if not rows:
        return None
    labels = [system.label for system, _, _ in rows]
    colours = [COLOURS[system.group] for system, _, _ in rows]
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(13, 0.42 * len(rows) + 1.6), sharey=True,
        gridspec_kw={"width_ratios": [3, 2]},
    )  # fmt: skip
    left.barh(labels, [cost for _, cost, _ in rows], color=colours)
    left.set_xscale("log")
    left.set_xlim(right=max(cost for _, cost, _ in rows) * 12)
    left.set_xlabel(f"µs per request: 100 reads, {size:,} keys (log scale)")
    right.barh(labels, [trips for _, _, trips in rows], color=colours)
    right.set_xscale("symlog", linthresh=1)
    right.set_xlim(0, 300)
    right.set_xlabel("network round trips per request (log scale)")
    for axis in (left, right):
        axis.grid(axis="x", which="both", alpha=0.3)
    for index, (_, cost, trips) in enumerate(rows):
        left.text(cost, index, f" {cost:,.1f}", va="center", fontsize=8)
        right.text(max(trips, 0), index, f" {trips}", va="center", fontsize=8)
    from matplotlib.patches import Patch

    names = {"floor": "floors", "ours": "django-durabledict", "original": "original"}
    names["peer"] = "peers"
    groups = dict.fromkeys(system.group for system, _, _ in rows[::-1])
    handles = [Patch(color=COLOURS[g], label=names[g]) for g in groups]
    left.legend(handles=handles, loc="upper right", fontsize=8)
    figure.suptitle("django-durabledict and its peers: cost of one request")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path.name
