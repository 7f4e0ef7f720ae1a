"""Run configuration (dedup/config.py)."""

from __future__ import annotations

import pytest

from dedup.config import OutputConfig, ReadConfig
from dedup.errors import ConfigError


def test_invalid_format_names_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ReadConfig(format="csv")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        OutputConfig(format="csv")  # type: ignore[arg-type]
