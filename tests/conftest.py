from __future__ import annotations

import signal
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# Tests send SIGINT as a terminal's Ctrl-C does. A shell starts a background job with SIGINT
# ignored, and every process inherits that; a caught signal is reset to the default on exec,
# so with Python's handler back here the runs the tests start see SIGINT as well.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return SEEDS


@pytest.fixture(scope="session")
def seed_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.iterdir())}
