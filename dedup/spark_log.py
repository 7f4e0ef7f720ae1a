"""What Spark prints: its JVM's log4j2 level (warnings and errors; errors only when quiet), and,
when quiet, the JVM's own start-up notices filtered from its stderr. A log4j2 set up by the
user (SPARK_CONF_DIR, or -Dlog4j2... in spark.driver.extraJavaOptions) is left alone.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from subprocess import PIPE
from typing import IO, Any

# Python workers: PySpark's warning about pandas versions it was not tested with (dedup uses
# no pandas API), as a PYTHONWARNINGS entry.
WORKER_WARNINGS = "ignore:PySpark does not yet fully support pandas:FutureWarning"
# Lines the JVM itself writes to stderr (not through log4j), dropped when quiet.
JVM_NOTICES = (b"WARNING: Using incubator modules",)
_DRIVER_OPTIONS = "spark.driver.extraJavaOptions"


def log4j2_properties(level: str) -> str:
    """A log4j2 configuration: `level` and above to stderr, Hadoop's notice that it has no
    native library (it needs none) only as an error. The root logger stays at WARN, the
    level Spark gives its shell's logger, and the console filters by `level`: else Spark
    prints a banner as it raises that logger's level above the root's."""
    return "\n".join(
        [
            "rootLogger.level = warn",
            "rootLogger.appenderRef.stderr.ref = console",
            "appender.console.type = Console",
            "appender.console.name = console",
            "appender.console.target = SYSTEM_ERR",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex",
            "appender.console.filter.threshold.type = ThresholdFilter",
            f"appender.console.filter.threshold.level = {level}",
            "logger.native.name = org.apache.hadoop.util.NativeCodeLoader",
            "logger.native.level = error",
            "",
        ]
    )


def _user_log4j(settings: Mapping[str, str]) -> bool:
    if "log4j" in settings.get(_DRIVER_OPTIONS, ""):
        return True
    conf_dir = os.environ.get("SPARK_CONF_DIR") or os.path.join(
        os.environ.get("SPARK_HOME", ""), "conf"
    )
    return os.path.exists(os.path.join(conf_dir, "log4j2.properties"))


def _config_file(level: str) -> Path:
    """The configuration for `level`, written once per content into the temporary folder."""
    text = log4j2_properties(level)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"dedup-log4j2-{digest}.properties"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dedup-log4j2-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return path


def log_settings(settings: Mapping[str, str], quiet: bool) -> dict[str, str]:
    """Spark settings that give the driver JVM dedup's log4j2 configuration (none when the
    user has one). They take effect when the JVM starts, not in a session joined later."""
    if _user_log4j(settings):
        return {}
    path = _config_file("error" if quiet else "warn")
    option = f"-Dlog4j2.configurationFile={path.as_uri()}"
    return {_DRIVER_OPTIONS: f"{settings.get(_DRIVER_OPTIONS, '')} {option}".strip()}


def start_jvm(master: str | None, settings: Mapping[str, str], quiet: bool) -> None:
    """When quiet and no JVM runs yet, start PySpark's gateway JVM with its stderr passed
    on without the JVM's start-up notices (`JVM_NOTICES`); else leave it to PySpark."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if not quiet or SparkContext._gateway is not None:
        return
    conf = SparkConf(loadDefaults=False)
    for key, value in settings.items():
        conf.set(key, value)
    if master:
        conf.setMaster(master)
    gateway: Any = launch_gateway(conf, popen_kwargs={"stderr": PIPE})
    proc = getattr(gateway, "proc", None)
    if proc is not None and proc.stderr is not None:
        threading.Thread(target=_pass_on, args=(proc.stderr,), daemon=True).start()
    SparkContext._ensure_initialized(gateway=gateway)


def _pass_on(stream: IO[bytes]) -> None:
    """Copy the JVM's stderr to ours, line by line, without its start-up notices."""
    for line in iter(stream.readline, b""):
        if not line.startswith(JVM_NOTICES):
            os.write(2, line)
