"""Class-data sharing (AppCDS) for the driver JVM: a fresh process starts seconds sooner.

A Spark driver loads and verifies some 15,000 classes before its first Delta query; HotSpot can
map them instead from an archive written by an earlier run (JDK 13+, ``-XX:ArchiveClassesAtExit``
then ``-XX:SharedArchiveFile``; https://openjdk.org/jeps/350). Measured on 2 cores: a fresh
``fraudspark sql`` 10.5 -> 7.7 s (``bench/jvm_options.py``), of which the session 4.0 -> 2.3 s.

The archive is kept beside the cached Delta jars, keyed by the Java binary, the Spark and Delta
jars and the JVM options, since it is only valid for that class path. The first session of a key
writes it: that JVM dumps to a private file when it exits, and this process, at exit, waits for
the JVM and publishes the file by an atomic rename only if the JVM ended normally. HotSpot
crashes on a truncated archive, so a reader must never see a partial one; a marker file (with
the writer's pid) keeps concurrent first sessions from dumping twice. A stale or mismatched
archive is ignored by ``-Xshare:auto`` (the JVM checks its header), silently.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# Sharing stays optional (auto) and quiet: a mismatched archive must not print to the console.
_QUIET = "-Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"
# How long the exiting process waits for its JVM to write the archive (about 1 s measured).
_DUMP_WAIT_SECONDS = 120.0


def java_binary() -> str:
    """The java that spark-submit runs: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java") or "java"
    return os.path.realpath(found)


def _jvm_build(java: str) -> str:
    """The JVM library's size and time: an upgrade in place changes them (and invalidates an
    archive, which the JVM would then ignore for good under the same name)."""
    home = Path(java).parent.parent
    for library in (home / "lib" / "server" / "libjvm.so", Path(java)):
        try:
            found = library.stat()
        except OSError:
            continue
        return f"{library}:{found.st_size}:{found.st_mtime_ns}"
    return java


def archive_path(folder: Path, jars: Sequence[str], java_options: str | None) -> Path:
    """The archive for this Java, these jars (Spark's own and ``jars``) and JVM options."""
    import pyspark

    spark_jars = sorted(p.name for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar"))
    java = java_binary()
    identity = "\n".join(
        [java, _jvm_build(java), *spark_jars, *(Path(jar).name for jar in jars), java_options or ""]
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return folder / f"driver-classes-{key}.jsa"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(marker: Path) -> bool:
    """Create ``marker`` holding our pid; False if a live process holds it."""
    for _ in range(2):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(marker.read_text() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder and _alive(holder):
                return False
            marker.unlink(missing_ok=True)  # its writer died: take over
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return True
    return False


def sharing_options(archive: Path) -> tuple[str, Path | None]:
    """The JVM options that use ``archive``, or that write it when it does not exist yet.

    Returns ``(options, part)``: ``part`` is the private file the JVM dumps to at exit (then
    call :func:`publish_when_jvm_exits` once the session is up), None when the archive is used
    or another live process is writing it (the options are then empty).
    """
    if archive.is_file():
        return f"-XX:SharedArchiveFile={archive} {_QUIET}", None
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        if not _claim(archive.with_suffix(".writing")):
            return "", None
    except OSError as error:  # a read-only cache: run without sharing
        log.debug("no class-data sharing archive in %s: %s", archive.parent, error)
        return "", None
    part = archive.with_suffix(f".part-{os.getpid()}")
    part.unlink(missing_ok=True)
    return f"-XX:ArchiveClassesAtExit={part} {_QUIET}", part


def publish_when_jvm_exits(jvm: subprocess.Popen[bytes], part: Path, archive: Path) -> None:
    """At this process's exit, end the JVM (its gateway exits when stdin closes), wait for it
    to write ``part``, and rename ``part`` to ``archive`` if it exited normally."""

    def publish() -> None:
        marker = archive.with_suffix(".writing")
        try:
            if jvm.stdin is not None:
                jvm.stdin.close()
            code = jvm.wait(timeout=_DUMP_WAIT_SECONDS)
            if code == 0 and part.is_file() and part.stat().st_size > 0:
                os.replace(part, archive)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.debug("class-data sharing archive not published: %s", error)
        finally:
            part.unlink(missing_ok=True)
            marker.unlink(missing_ok=True)

    atexit.register(publish)
