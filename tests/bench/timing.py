"""Timing helpers of the benchmarks: median and p95 of a page next to a baseline page of
the same app, measured in the same run (these machines are noisy: ratios, not limits)."""

from __future__ import annotations

import statistics
import time

BASELINE = ("/signed-out (static page, baseline)", "/signed-out")


def measure(client, path: str, rounds: int = 100, warmup: int = 5) -> tuple[float, float]:
    """Median and 95th percentile in milliseconds of GET `path` (which must answer 200)."""
    for _ in range(warmup):
        client.get(path)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def print_table(client, pages: list[tuple[str, str]], rounds: int = 100) -> None:
    """Print `label, median, p95, ratio to the baseline` for each (label, path)."""
    width = max(len(label) for label, _ in [BASELINE, *pages]) + 2
    print(f"\n{'page':<{width}}{'median ms':>10}{'p95 ms':>10}{'x baseline':>12}")
    base_median, base_p95 = measure(client, BASELINE[1], rounds)
    print(f"{BASELINE[0]:<{width}}{base_median:>10.2f}{base_p95:>10.2f}{1:>12.1f}")
    for label, path in pages:
        median, p95 = measure(client, path, rounds)
        print(f"{label:<{width}}{median:>10.2f}{p95:>10.2f}{median / base_median:>12.1f}")
