"""Scaling, reduced: concurrent agents, each in its own ``local`` sandbox, do not mix up their state.

The full sweep (1, 4, 16, 64 agents) is ``bench/bench_scaling.py``; this runs the same code.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from _require import require_tool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_scaling import TURNS, measure  # noqa: E402

pytestmark = pytest.mark.timeout(180)
LATENCY = 0.25
"""Seconds the scripted model waits before each answer, like a real one."""


@pytest.fixture(scope="module")
def levels():
    require_tool("bwrap", "the local provider sandboxes with bubblewrap")
    return asyncio.run(measure([1, 8], latency=LATENCY))


@pytest.mark.parametrize("index", [0, 1], ids=["1 agent", "8 agents"])
def test_each_agent_gets_back_its_own_secret(levels, index):
    level = levels[index]
    assert level.failed == 0, level.errors
    assert level.cross_talk == 0


@pytest.mark.parametrize("index", [0, 1], ids=["1 agent", "8 agents"])
def test_nothing_is_left_behind(levels, index):
    level = levels[index]
    assert level.leftover_processes == 0
    assert level.leftover_cgroups == 0


def test_concurrent_agents_wait_for_the_model_together(levels):
    """Eight agents take about as long as one: their model calls and steps overlap instead of queueing."""
    one, eight = levels
    assert one.wall_s >= TURNS * LATENCY
    assert eight.wall_s < 2 * one.wall_s, (one.wall_s, eight.wall_s)
    assert eight.throughput_turns_per_s > 4 * one.throughput_turns_per_s
