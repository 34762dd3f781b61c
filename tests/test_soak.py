"""Soak, reduced: 40 sequential ``%%agent`` runs in one real kernel stay flat in memory, files, threads.

The full soak (500 runs) is ``bench/bench_soak.py``; this runs the same code.
Each run binds a 2 MB buffer in the kernel, so keeping every run's objects
alive would show as about 2000 KiB per run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_soak import SoakResult, soak  # noqa: E402

RUNS, EVERY, WARMUP = 48, 4, 16
MEMORY_BAR_KIB_PER_RUN = 16.0
"""Measured 6.7-7.4 KiB/run here (the run history and IPython's own cell history); the
HTTP-client-per-run leak fixed earlier measured 22 KiB/run and one socket per run."""
THREADS_BAR_PER_RUN = 0.1
"""A thread left behind every ten runs fails; one that ends early in the soak makes the slope negative."""
FDS_BAR_PER_RUN = 0.25
"""A leak of one descriptor every four runs fails; the fit's noise here is about ±0.05."""

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def result() -> SoakResult:
    return soak(RUNS, EVERY, WARMUP)


def test_every_run_answers(result):
    assert result.failed_runs == 0


def test_memory_stays_flat(result):
    assert result.rss_kib_per_run < MEMORY_BAR_KIB_PER_RUN, result.samples


def test_no_threads_or_processes_pile_up(result):
    assert result.threads_per_run < THREADS_BAR_PER_RUN, result.samples
    assert result.children_end == 0


def test_open_files_stay_flat(result):
    assert result.fds_per_run < FDS_BAR_PER_RUN, result.samples
