"""Config: one frozen dataclass per stage, and `Config.from_options` for setting options from
Python by the names `dedup run` gives them."""

from __future__ import annotations

import pytest

from dedup import Config
from dedup.config import LSHConfig, OutputConfig, ReadConfig, VerifyConfig
from dedup.errors import ConfigError


def test_from_options_takes_the_cli_names() -> None:
    cfg = Config.from_options(
        threshold=0.7,
        containment=0.9,
        lsh_threshold=0.3,
        on_error="skip",
        format="jsonl",
        jobs=2,
        annotate=True,
        differing_numbers=0,
        min_share=0.2,
    )
    assert cfg.verify == VerifyConfig(threshold=0.7, containment=0.9, numbers=0, min_share=0.2)
    assert cfg.lsh == LSHConfig(threshold=0.3)
    assert cfg.read == ReadConfig(on_error="skip", format="jsonl")
    assert cfg.jobs == 2 and cfg.output.annotate
    assert Config.from_options() == Config()


def test_from_options_checks_names_and_values() -> None:
    with pytest.raises(ConfigError, match="unknown option 'treshold'"):
        Config.from_options(treshold=0.7)
    with pytest.raises(ConfigError, match="threshold must be in"):
        Config.from_options(threshold=1.5)
    with pytest.raises(ConfigError, match="differing numbers must be >= 0"):
        Config.from_options(differing_numbers=-1)
    with pytest.raises(ConfigError, match="min share must be in"):
        Config.from_options(min_share=1.5)


def test_jobs_is_not_recorded() -> None:
    """summary.json (config.to_dict) is the same whatever --jobs: the output never depends
    on it."""
    assert Config(jobs=1).to_dict() == Config(jobs=2).to_dict()
    assert "jobs" not in Config().to_dict()


def test_invalid_format_names_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        ReadConfig(format="csv")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        OutputConfig(format="csv")  # type: ignore[arg-type]
