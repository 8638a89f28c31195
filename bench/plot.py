"""The plot of latency against balanced accuracy (latency_vs_accuracy.png)."""

from pathlib import Path
from typing import Any

from bench.report import median_ms


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency (log scale) against balanced accuracy, one colour per variant: the trade-off at a
    glance. Filled: 1 thread; hollow: all cores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, row in enumerate(v for v in report["variants"] if v.get("accuracy")):
        y = row["accuracy"]["balanced_accuracy"]
        for n in report["machine"]["thread_settings"]:
            x = median_ms(report, row["name"], n)
            if x is not None:
                label = row["name"] if n == 1 else None
                ax.scatter(x, y, color=f"C{i}", facecolors=f"C{i}" if n == 1 else "none", s=70, label=label)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xlabel="median ms per image, JPEG bytes to probabilities (filled: 1 thread, hollow: all cores)",
        ylabel="balanced accuracy (validation)",
        title="Serving variants: latency against balanced accuracy",
    )
    ax.xaxis.label.set_size(8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
