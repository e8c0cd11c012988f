"""The nightly run lock between real processes (no Spark): waiting, giving up, stale holders,
date order."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from fraudspark.config import Config
from fraudspark.errors import EXIT_NIGHT_LOCKED, NightLockedError
from fraudspark.lakehouse.lock import LOCK_NAME, NightLock, night_lock

REPO = Path(__file__).resolve().parent.parent

# A process that takes the lock for a night, logs "start"/"end" to a shared file, holds it for
# `hold` seconds and releases it; exit code 75 when it gives up waiting.
HOLDER = """
import sys, time
from datetime import date
from fraudspark.errors import NightLockedError
from fraudspark.lakehouse.lock import NightLock
directory, night, hold, wait, settle, events = sys.argv[1:]
lock = NightLock(directory, date.fromisoformat(night), wait_seconds=float(wait),
                 stale_seconds=5, heartbeat_seconds=0.5, settle_seconds=float(settle),
                 poll_seconds=0.1)
try:
    lock.acquire()
except NightLockedError as exc:
    print(exc)
    sys.exit(75)
with open(events, "a") as out:
    out.write(f"{night} start {time.time()}\\n")
time.sleep(float(hold))
with open(events, "a") as out:
    out.write(f"{night} end {time.time()}\\n")
lock.release()
"""


def start_holder(
    directory: Path,
    night: str,
    events: Path,
    hold: float = 0.0,
    wait: float = 30.0,
    settle: float = 0.0,
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", HOLDER, str(directory), night, str(hold), str(wait)]
    return subprocess.Popen(
        [*command, str(settle), str(events)], env=env, stdout=subprocess.PIPE, text=True
    )


def wait_for_lock(directory: Path, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return dict(json.loads((directory / LOCK_NAME).read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    raise AssertionError("no process took the lock")


def events_of(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()[:2]) for line in path.read_text().splitlines()]  # type: ignore[misc]


def test_a_second_run_of_the_same_night_waits_for_the_first(tmp_path: Path) -> None:
    events = tmp_path / "events"
    first = start_holder(tmp_path, "2025-02-10", events, hold=2.0)
    wait_for_lock(tmp_path)
    second = start_holder(tmp_path, "2025-02-10", events)
    assert first.wait(30) == 0 and second.wait(30) == 0
    # Never two holders at once: the second starts after the first ends.
    assert events_of(events) == [
        ("2025-02-10", "start"),
        ("2025-02-10", "end"),
        ("2025-02-10", "start"),
        ("2025-02-10", "end"),
    ]
    assert not (tmp_path / LOCK_NAME).exists()
    assert list((tmp_path / "waiting").iterdir()) == []


def test_a_waiter_gives_up_after_the_bound_naming_the_running_night(tmp_path: Path) -> None:
    events = tmp_path / "events"
    holder = start_holder(tmp_path, "2025-02-10", events, hold=8.0)
    held = wait_for_lock(tmp_path)
    waiter = start_holder(tmp_path, "2025-02-11", events, wait=1.0)
    out, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == EXIT_NIGHT_LOCKED == 75
    assert out.startswith(
        f"night 2025-02-11 not started: night 2025-02-10 (pid {held['pid']} on "
        f"{socket.gethostname()}, since "
    )
    assert "gave up after 1 s (nightly.lock_wait_seconds)" in out
    holder.kill()
    holder.wait()


def test_a_holder_killed_with_sigkill_is_recognised_as_dead(tmp_path: Path) -> None:
    events = tmp_path / "events"
    holder = start_holder(tmp_path, "2025-02-10", events, hold=600.0)
    held = wait_for_lock(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # left behind by the dead holder
    began = time.monotonic()
    # Same host: the dead pid is seen at once, well before the 5 s heartbeat staleness.
    with NightLock(tmp_path, date(2025, 2, 10), wait_seconds=3, stale_seconds=5,
                   heartbeat_seconds=0.5, poll_seconds=0.1) as lock:  # fmt: skip
        assert wait_for_lock(tmp_path)["token"] == lock.info.token != held["token"]
    assert time.monotonic() - began < 2.0
    assert not (tmp_path / LOCK_NAME).exists()


def foreign_lock(directory: Path, heartbeat_age: float) -> None:
    """A lock held by a process on another host whose last heartbeat was that long ago."""
    info = {"night": "2025-02-09", "pid": 1, "host": "other-host", "token": "x", "started_at": 0}
    path = directory / LOCK_NAME
    path.write_text(json.dumps(info))
    stamp = time.time() - heartbeat_age
    os.utime(path, (stamp, stamp))


def test_a_lock_from_another_host_is_stale_only_once_its_heartbeat_is_old(
    tmp_path: Path,
) -> None:
    foreign_lock(tmp_path, heartbeat_age=1.0)
    lock = NightLock(tmp_path, date(2025, 2, 10), wait_seconds=0.5, stale_seconds=30,
                     heartbeat_seconds=1, poll_seconds=0.1)  # fmt: skip
    with pytest.raises(NightLockedError, match=r"night 2025-02-09 \(pid 1 on other-host"):
        lock.acquire()
    foreign_lock(tmp_path, heartbeat_age=60.0)
    with lock:
        assert json.loads((tmp_path / LOCK_NAME).read_text())["night"] == "2025-02-10"


def test_the_holder_keeps_its_heartbeat_fresh(tmp_path: Path) -> None:
    with NightLock(tmp_path, date(2025, 2, 10), wait_seconds=1, stale_seconds=2,
                   heartbeat_seconds=0.2) as lock:  # fmt: skip
        path = tmp_path / LOCK_NAME
        stamp = time.time() - 100
        os.utime(path, (stamp, stamp))
        time.sleep(0.6)
        assert time.time() - path.stat().st_mtime < 0.5
        assert not lock.lost


def test_nights_started_together_run_in_date_order(tmp_path: Path) -> None:
    events = tmp_path / "events"
    holder = start_holder(tmp_path, "2025-02-09", events, hold=2.0)
    wait_for_lock(tmp_path)
    # Started latest date first; each holds briefly so that any overlap would show.
    waiters = [
        start_holder(tmp_path, night, events, hold=0.3, settle=0.5)
        for night in ("2025-02-12", "2025-02-11", "2025-02-10")
    ]
    assert holder.wait(30) == 0
    assert [w.wait(30) for w in waiters] == [0, 0, 0]
    nights = ["2025-02-09", "2025-02-10", "2025-02-11", "2025-02-12"]
    assert events_of(events) == [(n, e) for n in nights for e in ("start", "end")]


def test_an_announced_night_settles_during_its_start_up_and_holds_its_place(
    tmp_path: Path,
) -> None:
    def lock_for(night: str, settle: float, wait: float = 10.0) -> NightLock:
        return NightLock(tmp_path, date.fromisoformat(night), wait_seconds=wait,
                         settle_seconds=settle, poll_seconds=0.05)  # fmt: skip

    announced = lock_for("2025-02-10", settle=2.0)
    assert announced.settle_remaining() == 2.0  # not announced: the whole delay is ahead
    announced.announce()  # as `fraudspark nightly` does before building its Spark session
    assert 1.5 < announced.settle_remaining() <= 2.0  # the night warms its JVM meanwhile
    ticket = tmp_path / "waiting" / f"2025-02-10_{announced.info.token}.json"
    assert ticket.exists()
    # A later night started meanwhile sees the earlier ticket and does not take the lock.
    later = lock_for("2025-02-11", settle=0.0, wait=0.5)
    with pytest.raises(NightLockedError, match=r"night 2025-02-10 .*waiting, earlier date"):
        later.acquire()
    time.sleep(2.0)  # the start-up outlasts the settle delay
    assert announced.settle_remaining() == 0.0
    began = time.monotonic()
    announced.acquire()
    assert time.monotonic() - began < 1.0  # not the 2 s settle again
    assert not ticket.exists() and json.loads((tmp_path / LOCK_NAME).read_text())["night"] == (
        "2025-02-10"
    )
    announced.release()
    # Not announced: acquire waits the whole settle delay.
    plain = lock_for("2025-02-12", settle=2.0)
    began = time.monotonic()
    plain.acquire()
    assert time.monotonic() - began >= 2.0
    plain.release()


def test_a_backfill_waits_the_settle_delay_for_its_first_night_only(
    tmp_path: Path, base_config: Config
) -> None:
    nightly = base_config.nightly.model_copy(
        update={"lock_settle_seconds": 30.0, "lock_dir": str(tmp_path)}
    )
    config = base_config.model_copy(update={"nightly": nightly})
    assert night_lock(config, date(2025, 2, 10)).settle_seconds == 30.0
    later = night_lock(config, date(2025, 2, 11), settle=False)
    began = time.monotonic()
    with later:  # nights 2..N of a backfill: no 30 s settle
        assert time.monotonic() - began < 2.0
        assert json.loads((tmp_path / LOCK_NAME).read_text())["night"] == "2025-02-11"
