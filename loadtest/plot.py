"""The latency plot: the percentile distribution (HDR style), and for `--rate max` the steps."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render straight to PNG

import matplotlib.pyplot as plt

from loadtest.report import Report, histogram_of

PERCENTILES = (0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)


def plot_report(reports: dict[str, Report], path: Path, title: str = "") -> None:
    """Latency by percentile for one or more runs (labelled), on one chart."""
    with_steps = [r for r in reports.values() if r.steps]
    columns = 2 if with_steps else 1
    figure, axes = plt.subplots(1, columns, figsize=(7 * columns, 4.5), squeeze=False)
    distribution = axes[0][0]
    for label, report in reports.items():
        histogram = histogram_of(report)
        if histogram.get_total_count() == 0:
            continue
        # x: 1 / (1 - p), so the tail (99 %, 99.9 %) gets room.
        xs = [1.0 / (1.0 - min(p, 99.999) / 100.0) for p in PERCENTILES]
        ys = [histogram.get_value_at_percentile(p) / 1000.0 for p in PERCENTILES]
        distribution.plot(xs, ys, marker="o", label=f"{label} (p99 {report.p99_ms} ms)")
    distribution.set_xscale("log")
    ticks = [1.0 / (1.0 - p / 100.0) for p in (50.0, 90.0, 99.0, 99.9, 99.99)]
    distribution.set_xticks(ticks, ["50%", "90%", "99%", "99.9%", "99.99%"])
    distribution.set_xlabel("percentile")
    distribution.set_ylabel("latency (ms)")
    first = next(iter(reports.values()))
    distribution.set_title(title or f"{first.scenario}: {first.latency_of}", fontsize=9)
    distribution.grid(True, which="both", alpha=0.3)
    distribution.legend(fontsize=8)
    if with_steps:
        steps_axis = axes[0][1]
        for report in with_steps:
            rates = [step.rate for step in report.steps]
            steps_axis.plot(rates, [step.p99_ms for step in report.steps], "o", label="p99")
            for step in report.steps:
                steps_axis.annotate("held" if step.held else "missed", (step.rate, step.p99_ms))
        steps_axis.set_xlabel("target rate (events/s)")
        steps_axis.set_ylabel("p99 (ms)")
        steps_axis.set_yscale("log")
        steps_axis.set_title("--rate max: steps", fontsize=9)
        steps_axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
