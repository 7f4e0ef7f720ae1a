"""`--config FILE` for CLI commands: option values from a TOML file (or a run's summary.json).

Keys are the command's long option names without the dashes (`num-perm`, `no-report`) and
its arguments' names (`inputs`); values have the option's type (a list for `inputs`). The file
only supplies defaults: options given on the command line win. The values a run used are
recorded in summary.json under "options", in the same form, so
`dedup run --config OUTDIR/summary.json -o NEWDIR` repeats it.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Parameters that never change what a run writes: not recorded in summary.json (a file may
# still set them). `jobs` is one: the output never depends on it.
NOT_RECORDED = frozenset({"config", "outdir", "quiet", "progress_interval", "jobs"})
_META = "dedup.config_file"


def option_key(param: click.Parameter) -> str:
    """The config-file key of a parameter: its longest `--` option name, or its name."""
    if isinstance(param, click.Option):
        long = [o for o in param.opts if o.startswith("--")]
        if long:
            return max(long, key=len)[2:]
    return (param.name or "").replace("_", "-")


def _keys(command: click.Command) -> dict[str, click.Parameter]:
    return {
        option_key(p): p
        for p in command.params
        if p.name and p.name != "config" and p.expose_value and option_key(p) != "help"
    }


def _read(path: Path) -> Mapping[str, Any]:
    """The table of option values in `path`: TOML, or the "options" of a summary.json."""
    try:
        if path.suffix.lower() == ".json":
            options = json.loads(path.read_text(encoding="utf-8")).get("options")
            if not isinstance(options, dict):
                raise click.UsageError(f'{path}: no "options" object (not a run\'s summary.json)')
            # JSON null (an option left unset) has no TOML spelling: it means the default.
            return {k: v for k, v in options.items() if v is not None}
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:  # TOMLDecodeError is a ValueError
        raise click.UsageError(f"{path}: cannot read config: {e}") from e


def _convert(ctx: click.Context, param: click.Parameter, value: Any, where: str) -> Any:
    many = param.nargs != 1 or getattr(param, "multiple", False)
    if many and not isinstance(value, list):
        raise click.UsageError(f"{where}: expected a list, got {value!r}")
    if not many and isinstance(value, (list, dict)):
        raise click.UsageError(f"{where}: expected a single value, got {value!r}")
    try:
        return param.type_cast_value(ctx, tuple(value) if many else value)
    except click.BadParameter as e:
        raise click.UsageError(f"{where}: {e.message}") from e


def load_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """Eager option callback: validate FILE and make its values the command's defaults."""
    if value is None:
        return
    keys = _keys(ctx.command)
    defaults: dict[str, Any] = {}
    for key, raw in _read(value).items():
        target = keys.get(key) or keys.get(key.replace("_", "-"))
        if target is None:
            raise click.UsageError(
                f"{value}: unknown key {key!r} (known: {', '.join(sorted(keys))})", ctx
            )
        assert target.name is not None
        defaults[target.name] = _convert(ctx, target, raw, f"{value}: key {key!r}")
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    ctx.meta[_META] = value


def config_option(f: Any) -> Any:
    """The `--config FILE` option (eager, so the file is read before the other options).
    A ConfigError from the command (values out of range) then names the file too."""

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except ConfigError as e:
            path = click.get_current_context().meta.get(_META)
            if path is None:
                raise
            raise ConfigError(f"{e} (options read from {path})") from e

    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        is_eager=True,
        expose_value=False,
        callback=load_config,
        help="TOML file of option values (keys as the long options, e.g. num-perm = 128), "
        "or a previous run's summary.json. Command-line options win.",
    )(command)


def recorded_options(ctx: click.Context) -> dict[str, Any]:
    """The effective value of every option that shapes the output, keyed as in a config
    file, in JSON-ready form (written to summary.json)."""
    out: dict[str, Any] = {}
    for key, param in _keys(ctx.command).items():
        if param.name in NOT_RECORDED or param.name not in ctx.params:
            continue
        out[key] = _plain(ctx.params[param.name])
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
