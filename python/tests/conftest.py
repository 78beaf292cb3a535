"""Shared fixtures: a fresh in-memory bus, a data directory, and a way to run Python code in
a separate process (for persistence across processes, locking and Ctrl-C)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import ringbus


@pytest.fixture
def bus() -> Iterator[ringbus.Bus]:
    with ringbus.Bus() as b:
        yield b


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def drain(reader: ringbus.Subscription | ringbus.Member) -> list[ringbus.Event]:
    """Every event `reader` yields until a batch wait of 0.5 s comes back empty."""
    events: list[ringbus.Event] = []
    while batch := reader.poll_batch(4096, timeout=0.5):
        events.extend(batch)
    return events


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a new interpreter; fails the test with its output if it fails."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"child failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done
