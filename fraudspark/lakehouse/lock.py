"""The nightly run lock: one night at a time per lakehouse, nights in date order.

A lock is a file, ``<lock dir>/nightly.lock``, holding JSON (night, pid, host, token, start
time). It is created atomically with ``os.link`` of a fully written temporary file, which fails
when the lock exists (the O_EXCL idiom that also holds on NFS, see open(2)). Its holder touches
its modification time every ``heartbeat_seconds`` from a daemon thread. A lock is stale (its
holder is dead) when the holder's pid no longer exists on this host, or when its heartbeat is
older than ``stale_seconds`` (holders on other hosts). A stale lock is moved aside with an
atomic rename, so two processes never both take it over.

Nights that wait leave a ticket ``waiting/<night>_<token>.json`` (heartbeat as above) and only
the earliest night among the live tickets competes for the lock: two nights started together
run in date order. A waiter gives up after ``wait_seconds`` with
:class:`fraudspark.errors.NightLockedError` (exit code 75), whose message names the running
night. Stale tickets are ignored and removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from types import TracebackType

from fraudspark.config import Config, ConfigError
from fraudspark.errors import NightLockedError

log = logging.getLogger(__name__)

LOCK_NAME = "nightly.lock"


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or waits for) the lock: the night, process id, host and a unique token."""

    night: str  # YYYY-MM-DD
    pid: int
    host: str
    token: str
    started_at: float  # Unix seconds

    def describe(self, heartbeat_age: float | None = None) -> str:
        started = datetime.fromtimestamp(self.started_at, timezone.utc).strftime("%H:%M:%S UTC")
        beat = f", heartbeat {heartbeat_age:.0f} s ago" if heartbeat_age is not None else ""
        return f"night {self.night} (pid {self.pid} on {self.host}, since {started}{beat})"


def _read_info(path: Path) -> tuple[LockInfo, float] | None:
    """The lock or ticket at ``path`` and its heartbeat age in seconds; None if absent."""
    try:
        age = time.time() - path.stat().st_mtime
        return LockInfo(**json.loads(path.read_text())), age
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        # Files are linked complete, so unreadable means gone between stat and read.
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class NightLock:
    """A context manager holding the nightly lock for ``night`` (see the module docstring).

    ``directory`` must be on a file system every process that runs nights reaches (a local
    disk for one machine, a shared file system for several). Raises
    :class:`~fraudspark.errors.NightLockedError` when ``wait_seconds`` pass without the lock.
    """

    def __init__(
        self,
        directory: str | Path,
        night: date,
        *,
        wait_seconds: float,
        stale_seconds: float = 120.0,
        heartbeat_seconds: float = 10.0,
        settle_seconds: float = 0.0,
        poll_seconds: float = 0.5,
    ) -> None:
        if stale_seconds <= heartbeat_seconds:
            raise ValueError("lock_stale_seconds must exceed lock_heartbeat_seconds")
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.tickets = self.directory / "waiting"
        self.night = night
        self.wait_seconds = wait_seconds
        self.stale_seconds = stale_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.settle_seconds = settle_seconds
        self.poll_seconds = poll_seconds
        self.info = LockInfo(
            night=night.isoformat(),
            pid=os.getpid(),
            host=socket.gethostname(),
            token=uuid.uuid4().hex,
            started_at=time.time(),
        )
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.lost = False  # set when the heartbeat finds the lock no longer ours
        self._announced_at: float | None = None  # time.monotonic() of the ticket, if written

    @classmethod
    def for_config(cls, config: Config, night: date, settle: bool = True) -> NightLock:
        """The lock for ``night`` under ``config.nightly`` (directory, timings); ``settle``
        False skips the settle delay (for a process whose earlier nights already waited it)."""
        settings = config.nightly
        directory = settings.lock_dir
        if directory is None:
            root = config.lakehouse_root
            if "://" in root:
                raise ConfigError(
                    f"lakehouse root {root} is not a file system path: set nightly.lock_dir"
                )
            directory = f"{root}/_locks"
        return cls(
            directory,
            night,
            wait_seconds=settings.lock_wait_seconds,
            stale_seconds=settings.lock_stale_seconds,
            heartbeat_seconds=settings.lock_heartbeat_seconds,
            settle_seconds=settings.lock_settle_seconds if settle else 0.0,
        )

    # -- state on disk -------------------------------------------------------------------------

    def _stale(self, info: LockInfo, age: float) -> bool:
        if info.host == self.info.host and not _pid_alive(info.pid):
            return True
        return age > self.stale_seconds

    def _write_new(self, target: Path) -> bool:
        """Create ``target`` holding our info, atomically; False if it exists."""
        temporary = self.directory / f".{self.info.token}.tmp"
        temporary.write_text(json.dumps(asdict(self.info)))
        try:
            os.link(temporary, target)
            return True
        except FileExistsError:
            return False
        finally:
            temporary.unlink()

    def _break(self, stale: LockInfo) -> None:
        """Move a stale lock aside; restore it if a live holder replaced it meanwhile."""
        aside = self.directory / f".broken.{self.info.token}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another waiter broke it first
        moved = _read_info(aside)
        if moved is not None and moved[0].token != stale.token:
            # A new holder took over between our read and the rename: give it back.
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        else:
            log.warning("nightly lock: removed the stale lock of %s", stale.describe())
        aside.unlink(missing_ok=True)

    def _earlier_waiter(self) -> LockInfo | None:
        """A live waiting night that must run before ours (earlier date, or same date and
        earlier arrival), if any; stale tickets are removed."""
        mine = (self.info.night, self.info.started_at, self.info.token)
        first: LockInfo | None = None
        for ticket in self.tickets.glob("*.json"):
            found = _read_info(ticket)
            if found is None:
                continue
            info, age = found
            if self._stale(info, age):
                ticket.unlink(missing_ok=True)
                continue
            key = (info.night, info.started_at, info.token)
            if key < mine and (first is None or key < (first.night, first.started_at, first.token)):
                first = info
        return first

    # -- acquire and release -------------------------------------------------------------------

    @property
    def _ticket(self) -> Path:
        return self.tickets / f"{self.info.night}_{self.info.token}.json"

    def announce(self) -> None:
        """Write this night's waiting ticket now, starting the settle delay and the wait.

        A job calls it before its slow start-up (the Spark session takes seconds), so that the
        settle delay passes meanwhile and :meth:`acquire` waits only for what remains. A ticket
        left by a process that dies before acquiring is stale once its pid is gone."""
        if self._announced_at is not None:
            return
        self.tickets.mkdir(parents=True, exist_ok=True)
        self._write_new(self._ticket)
        self._announced_at = time.monotonic()

    def settle_remaining(self) -> float:
        """Seconds until the settle delay since :meth:`announce` has passed (0 if it has; the
        whole delay if not announced yet)."""
        if self._announced_at is None:
            return self.settle_seconds
        return max(0.0, self.settle_seconds - (time.monotonic() - self._announced_at))

    def acquire(self) -> None:
        """Take the lock, waiting at most ``wait_seconds`` since :meth:`announce` (called here
        if it was not before; see the class docstring)."""
        self.announce()
        ticket = self._ticket
        assert self._announced_at is not None
        began = self._announced_at
        self._announced_at = None  # a later acquire announces again
        waiting_for: str | None = None
        try:
            while True:
                settled = time.monotonic() - began >= self.settle_seconds
                earlier = self._earlier_waiter() if settled else None
                if settled and earlier is None and self._write_new(self.path):
                    break
                held = _read_info(self.path)
                if held is not None and self._stale(*held):
                    self._break(held[0])
                    continue
                blocker = (
                    held[0].describe(held[1]) if held is not None
                    else earlier.describe() + " (waiting, earlier date)" if earlier is not None
                    else "nothing"
                )  # fmt: skip
                if time.monotonic() - began > self.wait_seconds:
                    raise NightLockedError(
                        f"night {self.night} not started: {blocker} holds the nightly lock "
                        f"{self.path}; gave up after {self.wait_seconds:.0f} s "
                        "(nightly.lock_wait_seconds)"
                    )
                if blocker != waiting_for and held is not None:
                    log.info("night %s waits for %s", self.night, blocker)
                    waiting_for = blocker
                os.utime(ticket)
                time.sleep(self.poll_seconds)
        finally:
            ticket.unlink(missing_ok=True)
        log.info("night %s holds the nightly lock %s", self.night, self.path)
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="nightly-lock", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            held = _read_info(self.path)
            if held is None or held[0].token != self.info.token:
                self.lost = True
                log.error("night %s lost the nightly lock %s", self.night, self.path)
                return
            os.utime(self.path)

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still ours."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        held = _read_info(self.path)
        if held is not None and held[0].token == self.info.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> NightLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def night_lock(config: Config, night: date, settle: bool = True) -> NightLock:
    """The nightly lock for ``night`` under ``config`` (a context manager); see
    :meth:`NightLock.for_config` for ``settle``."""
    return NightLock.for_config(config, night, settle)
