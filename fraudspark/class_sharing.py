"""Class-data sharing (AppCDS) for the driver JVM: a fresh process starts seconds sooner.

A Spark driver loads and verifies some 15,000 classes before its first Delta query; HotSpot can
map them instead from an archive written by an earlier run (JDK 13+, ``-XX:ArchiveClassesAtExit``
then ``-XX:SharedArchiveFile``; https://openjdk.org/jeps/350). Measured on 2 cores: a fresh
``fraudspark sql`` 10.5 -> 7.7 s (``bench/jvm_options.py``), of which the session 4.0 -> 2.3 s.

The archive is kept beside the cached Delta jars, keyed by everything HotSpot checks it against:
the JVM build, every jar's name, size and time, the JVM options and the heap size. The first
session of a key writes it: that JVM dumps to a file of its own (host and pid in the name) when
it exits, and this process, at exit, waits for the JVM and publishes the file by an atomic
rename only if the JVM ended normally. HotSpot crashes on a truncated archive, so a reader must
never see a partial one. A kernel lock (``flock``) on a marker file lets one process write at a
time; the kernel releases it when its holder dies. A mismatched archive is ignored by
``-Xshare:auto``, silently.

Archives do not pile up: each is about 190 MB, and a new key (a reinstalled environment, an
upgraded JVM or jar, other JVM options) leaves the old archive unused for good. A session
records its archive's use in the file's modification time (only the archive's owner can, so on
a cache shared between users, others' use does not count). Each write of an archive, when it
starts and when it is published, removes across the cache's folders the archives unused for 14
days and all but the 8 most recently used (the test suite alone uses three keys: its own options
and heap sizes), and any private dump older than an hour (its writer died before publishing it).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

# Sharing stays optional (auto) and quiet: a mismatched archive must not print to the console.
_QUIET = "-Xshare:auto -Xlog:cds*=off"
# How long the exiting process waits for its JVM to write the archive (about 12 s measured).
_DUMP_WAIT_SECONDS = 120.0
# A private dump this old was left by a process that died before publishing it.
_STALE_PART_SECONDS = 3600.0
# Archives kept in the cache: the most recently used ones, none unused for longer than this.
_KEEP_ARCHIVES = 8
_UNUSED_ARCHIVE_SECONDS = 14 * 86_400.0


def java_binary() -> str:
    """The java that spark-submit runs: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java") or "java"
    return os.path.realpath(found)


def _file_identity(path: Path) -> str:
    """Name, size and modification time: what HotSpot compares for each class-path jar, and
    what an upgrade in place of the JVM library changes."""
    try:
        found = path.stat()
    except OSError:
        return str(path)
    return f"{path.name}:{found.st_size}:{found.st_mtime_ns}"


def archive_path(
    folder: Path, jars: Sequence[str], java_options: str | None, driver_memory: str
) -> Path:
    """The archive for this JVM, these jars (Spark's own and ``jars``), JVM options and heap
    (the heap size decides compressed pointers, which the archive records)."""
    import pyspark

    java = java_binary()
    library = Path(java).parent.parent / "lib" / "server" / "libjvm.so"
    spark_jars = sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))
    identity = "\n".join(
        [
            java,
            _file_identity(library if library.exists() else Path(java)),
            *(_file_identity(jar) for jar in spark_jars),
            *(_file_identity(Path(jar)) for jar in jars),
            java_options or "",
            driver_memory,
        ]
    )
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return folder / f"driver-classes-{key}.jsa"


@dataclass
class ArchiveWriter:
    """This process writes ``archive``: its JVM dumps to ``part``; ``lock`` is the open,
    locked marker file (closing it releases the lock)."""

    archive: Path
    part: Path
    lock: IO[str]

    def release(self) -> None:
        self.part.unlink(missing_ok=True)
        self.lock.close()

    def publish_when_jvm_exits(self, jvm: subprocess.Popen[bytes]) -> None:
        """At this process's exit, end the JVM (its gateway exits when stdin closes), wait for
        it to write ``part``, and rename ``part`` to ``archive`` if it exited normally."""

        def publish() -> None:
            try:
                if jvm.stdin is not None:
                    jvm.stdin.close()
                code = jvm.wait(timeout=_DUMP_WAIT_SECONDS)
                if code == 0 and self.part.is_file() and self.part.stat().st_size > 0:
                    with self.part.open("rb") as written:
                        os.fsync(written.fileno())  # whole on disk before it has the name
                    os.replace(self.part, self.archive)
                    prune_archives(self.archive.parent.parent)
            except (OSError, subprocess.TimeoutExpired) as error:
                log.debug("class-data sharing archive not published: %s", error)
            finally:
                self.release()

        atexit.register(publish)


def _mark_used(archive: Path) -> None:
    """Record a use of ``archive`` in its modification time, which pruning orders by (HotSpot
    checks the archive's header, not the file's times)."""
    with contextlib.suppress(OSError):  # a cache folder of another user, read-only here
        os.utime(archive)


def prune_archives(
    cache: Path,
    keep: int = _KEEP_ARCHIVES,
    unused_seconds: float = _UNUSED_ARCHIVE_SECONDS,
    stale_part_seconds: float = _STALE_PART_SECONDS,
) -> list[Path]:
    """Remove from the folders of ``cache`` (one per Delta version, session.py) the archives
    beyond the ``keep`` most recently used and those unused for more than ``unused_seconds``,
    and every private dump older than ``stale_part_seconds``. Returns the paths removed. Never
    raises: a file that cannot be listed or removed stays (logged at debug level).

    Lock files stay (empty files): removing one could let two processes hold "the" lock of a
    key at once. A file whose modification time changed since the listing (a session marked it
    used meanwhile) stays too. A JVM that has mapped a removed archive keeps its mapping (the
    kernel frees the file with the last mapping); a JVM given its path afterwards runs without
    class-data sharing (``-Xshare:auto``), and the next session of that key writes it again.
    """
    now = time.time()

    def listed(pattern: str) -> list[tuple[Path, float]]:
        found = []
        with contextlib.suppress(OSError):
            for path in cache.glob(pattern):
                with contextlib.suppress(OSError):
                    found.append((path, path.stat().st_mtime))
        return found

    parts = listed("*/driver-classes-*.part-*")
    by_use = sorted(listed("*/driver-classes-*.jsa"), key=lambda item: -item[1])
    doomed = [(path, when) for path, when in parts if now - when > stale_part_seconds] + [
        (path, when)
        for rank, (path, when) in enumerate(by_use)
        if rank >= keep or now - when > unused_seconds
    ]
    removed: list[Path] = []
    for path, when in doomed:
        try:
            if path.stat().st_mtime != when:  # used since the listing
                continue
            path.unlink()
        except OSError as error:
            log.debug("class-data sharing: %s not removed: %s", path, error)
            continue
        removed.append(path)
    if removed:
        log.info("class-data sharing: removed %d unused file(s) from %s", len(removed), cache)
    return removed


def sharing_options(archive: Path) -> tuple[str, ArchiveWriter | None]:
    """The JVM options that use ``archive``, or that write it when it does not exist yet.

    Returns ``(options, writer)``. ``writer`` is set when this process's JVM writes the archive:
    call its :meth:`ArchiveWriter.publish_when_jvm_exits` once the session is up (or
    :meth:`ArchiveWriter.release` if it did not start). The options are empty, and the JVM runs
    without an archive, while another process writes it, when the folder cannot be written, or
    when the path holds whitespace (Spark splits the JVM options on it).
    """
    if any(character.isspace() for character in str(archive)):
        return "", None
    if archive.is_file():
        _mark_used(archive)
        return f"-XX:SharedArchiveFile={archive} {_QUIET}", None
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        lock = archive.with_suffix(".lock").open("a")
    except OSError as error:  # a read-only cache: run without sharing
        log.debug("no class-data sharing archive in %s: %s", archive.parent, error)
        return "", None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another process is writing it
        lock.close()
        return "", None
    if archive.is_file():  # published while we took the lock
        lock.close()
        _mark_used(archive)
        return f"-XX:SharedArchiveFile={archive} {_QUIET}", None
    prune_archives(archive.parent.parent)
    # Host and pid: unique among the processes that may share this cache folder.
    part = archive.parent / f"{archive.stem}.part-{socket.gethostname()}-{os.getpid()}"
    part.unlink(missing_ok=True)
    return f"-XX:ArchiveClassesAtExit={part} {_QUIET}", ArchiveWriter(archive, part, lock)
