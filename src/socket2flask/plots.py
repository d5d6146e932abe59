"""Draw what `probe` measured: one consistent style, fixed size and DPI, so every run gives a PNG of
the same size (rule 8: no tight bounding box, constrained layout instead).

    plot_latency({"session": a, "raw": b})            # histogram + CDF, p50 and p99 marked
    plot_sweep({"werkzeug": sweep_a, "ours": sweep_b})  # throughput and p99 against concurrency

Both return the matplotlib Figure; in a notebook, leave the call last in a cell to show it.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .probe import Latency

FIGSIZE = (10.0, 4.0)  # inches
DPI = 100  # so every figure is 1000 x 400 pixels
COLORS = plt.get_cmap("tab10").colors


def _unit(seconds: list[float]) -> tuple[str, float]:
    """µs when everything is under a millisecond, else ms: the unit that keeps numbers readable."""
    return ("µs", 1e6) if max(seconds, default=0) < 1e-3 else ("ms", 1e3)


def duration(seconds: float) -> str:
    """A duration as people write it: 61 µs, 1.2 ms, 40 ms, 1.5 s."""
    if math.isnan(seconds):
        return "n/a"
    for unit, scale in (("µs", 1e6), ("ms", 1e3), ("s", 1.0)):
        value = seconds * scale
        if abs(value) < 1000 or unit == "s":
            return f"{value:.1f} {unit}" if abs(value) < 10 else f"{value:,.0f} {unit}"
    raise AssertionError("unreachable")


def _log_scale(axis: Axes, which: str) -> None:
    """A log axis labelled with plain numbers (2, 5, 10, 20) rather than powers of ten."""
    getattr(axis, f"set_{which}scale")("log")
    scale = getattr(axis, f"{which}axis")
    scale.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    scale.set_minor_formatter(ticker.FuncFormatter(_minor_label))


def _minor_label(value: float, _position: int) -> str:
    """Label the 2s and 5s between powers of ten, and leave the other minor ticks bare."""
    leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
    return f"{value:g}" if leading in (2, 5) else ""


def _figure(title: str | None) -> tuple[Figure, tuple]:
    fig, axes = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI, layout="constrained")
    if title:
        fig.suptitle(title)
    plt.close(fig)  # we return the figure: pyplot must not also show it at the end of the cell
    return fig, axes


def plot_latency(results: dict[str, Latency], title: str | None = None) -> Figure:
    """Latency histogram (log-spaced bins) beside its CDF, for each labelled result."""
    fig, (hist, cdf) = _figure(title)
    marks = [s.p99 for s in results.values() if s.samples]
    unit, scale = _unit(marks)
    everything = [x * scale for s in results.values() for x in s.samples]
    low, high = (min(everything), max(everything)) if everything else (1.0, 10.0)
    edges = [low * (high / low) ** (i / 40) for i in range(41)] if high > low > 0 else 40
    for color, (label, result) in zip(COLORS, results.items()):
        values = sorted(x * scale for x in result.samples)
        if not values:
            continue
        p50, p99 = result.p50 * scale, result.p99 * scale
        name = f"{label}: p50 {duration(result.p50)}, p99 {duration(result.p99)}"
        hist.hist(values, bins=edges, alpha=0.5, color=color, label=name)
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        cdf.step(values, fractions, where="post", color=color, label=label)
        for axis in (hist, cdf):
            axis.axvline(p50, color=color, linestyle="--", linewidth=1)
            axis.axvline(p99, color=color, linestyle=":", linewidth=1)
    for axis in (hist, cdf):
        _log_scale(axis, "x")
        axis.set_xlabel(f"latency ({unit}, log scale)")
    hist.set(ylabel="requests", title="histogram (dashed: p50, dotted: p99)")
    cdf.set(ylabel="fraction of requests", ylim=(0, 1.02), title="cumulative distribution")
    hist.legend(fontsize="small")
    cdf.grid(True, alpha=0.3)
    return fig


def plot_sweep(results: dict[str, dict[int, Latency]], title: str | None = None) -> Figure:
    """Throughput (left) and p99 latency (right) against the number of concurrent clients."""
    fig, (rate, tail) = _figure(title)
    unit, scale = _unit([r.p99 for sweep in results.values() for r in sweep.values()])
    for color, (label, sweep) in zip(COLORS, results.items()):
        levels = sorted(sweep)
        rate.plot(levels, [sweep[c].rps for c in levels], "o-", color=color, label=label)
        tail.plot(levels, [sweep[c].p99 * scale for c in levels], "o-", color=color, label=label)
    levels = sorted({c for sweep in results.values() for c in sweep})
    for axis in (rate, tail):
        axis.set_xscale("log", base=2)
        axis.set_xticks(levels, [str(c) for c in levels])
        axis.set_xlabel("concurrent clients")
        axis.grid(True, alpha=0.3)
    rate.set(ylabel="throughput (requests/s)", title="throughput", ylim=(0, None))
    tail.set(ylabel=f"p99 latency ({unit})", title="tail latency (p99)")
    if any(r.p99 > 0 for sweep in results.values() for r in sweep.values()):  # nan > 0 is False
        _log_scale(tail, "y")  # not when every request failed: nothing to put on a log axis
    rate.legend(fontsize="small")
    return fig
