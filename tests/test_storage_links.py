"""Planted symbolic links: no file reachable through a link is created, read, appended or truncated.

Each test plants a link where the handler will open a file (the events file, the rejects
file, the rotation lock, the compression temporary and the rotated names) pointing at a
"victim" elsewhere, then checks the victim byte for byte, by modification time, and, for a
victim that did not exist, that it still does not.
"""

from __future__ import annotations

import gzip
import os
import stat
import time
import warnings
from pathlib import Path

import pytest

import wflogging
from tests import storage_workers as workers
from tests.conftest import unique_logger, valid_fields
from wflogging.storage import ExposedFileWarning, SymlinkRefused

_OLD = 1_000_000_000  # a victim's mtime, far in the past: any write moves it


class Victim:
    """A file outside the log directory, with known content and mtime (or absent, if ``exists`` is false)."""

    def __init__(self, directory: Path, name: str, *, exists: bool = True) -> None:
        directory.mkdir(exist_ok=True)
        self.path = directory / name
        self.content = b"precious data that must survive\n" * 100
        if exists:
            self.path.write_bytes(self.content)
            os.utime(self.path, (_OLD, _OLD))
        self.existed = exists

    def assert_untouched(self) -> None:
        if not self.existed:
            assert not self.path.exists(), f"{self.path} was created through a link"
            return
        assert self.path.read_bytes() == self.content, f"{self.path} was changed through a link"
        status = self.path.stat()
        assert status.st_mtime == _OLD, f"{self.path} was written through a link"


def _log(handler: wflogging.TaskEventHandler, count: int, size: int = 100, writer: str = "w") -> None:
    logger = unique_logger()
    logger.addHandler(handler)
    for seq in range(count):
        logger.info("e", extra=workers.event_fields(writer, seq, size))
    logger.removeHandler(handler)


@pytest.mark.parametrize("exists", [True, False], ids=["existing-victim", "absent-victim"])
def test_a_link_at_the_events_path_is_refused(tmp_path: Path, exists: bool) -> None:
    """A link at the handler's path is refused: the constructor says so; with delay, events are dropped."""
    logs, victim = tmp_path / "logs", Victim(tmp_path / "elsewhere", "victim", exists=exists)
    logs.mkdir()
    (logs / "events.jsonl").symlink_to(victim.path)
    with pytest.raises(SymlinkRefused, match="symbolic link"):
        wflogging.TaskEventHandler(logs / "events.jsonl")
    handler = wflogging.TaskEventHandler(logs / "events.jsonl", delay=True)
    _log(handler, 3)
    handler.close()
    assert handler.dropped == 3
    victim.assert_untouched()


def test_a_link_planted_after_open_is_not_followed(tmp_path: Path) -> None:
    """The file is replaced by a link while the handler has it open: the watch will not reopen through it."""
    events, victim = tmp_path / "events.jsonl", Victim(tmp_path / "elsewhere", "victim")
    handler = wflogging.TaskEventHandler(events)
    _log(handler, 1)
    events.unlink()
    events.symlink_to(victim.path)
    _log(handler, 2)
    handler.close()
    assert handler.dropped == 2
    victim.assert_untouched()


def test_follow_symlinks_allows_a_link_of_ones_own(tmp_path: Path) -> None:
    """follow_symlinks=True writes through a link that this user made."""
    target = tmp_path / "real" / "events.jsonl"
    target.parent.mkdir()
    (tmp_path / "events.jsonl").symlink_to(target)
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl", follow_symlinks=True)
    _log(handler, 2)
    handler.close()
    assert handler.dropped == 0
    assert len(target.read_bytes().splitlines()) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a link to another user needs root")
def test_follow_symlinks_still_refuses_a_link_owned_by_another_user(tmp_path: Path) -> None:
    """Even with follow_symlinks=True, a link that another user planted is not followed."""
    victim = Victim(tmp_path / "elsewhere", "victim", exists=False)
    link = tmp_path / "events.jsonl"
    link.symlink_to(victim.path)
    os.lchown(link, 65534, 65534)
    with pytest.raises(SymlinkRefused, match="another user"):
        wflogging.TaskEventHandler(link, follow_symlinks=True)
    victim.assert_untouched()


def test_a_link_at_the_rejects_path_is_not_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reject is never written through a link; the reject is announced as not stored."""
    victim = Victim(tmp_path / "elsewhere", "victim")
    (tmp_path / "events.rejects.jsonl").symlink_to(victim.path)
    handler = wflogging.TaskEventHandler(tmp_path / "events.jsonl", follow_symlinks=True)
    logger = unique_logger()
    logger.addHandler(handler)
    logger.info("bad", extra=valid_fields(status="Maybe"))
    handler.close()
    victim.assert_untouched()
    assert "NOT saved" in capsys.readouterr().err


def test_a_link_at_the_rotation_lock_is_not_followed(tmp_path: Path) -> None:
    """The rotation lock is never opened (so never created nor truncated) through a link."""
    absent, present = Victim(tmp_path / "a", "absent", exists=False), Victim(tmp_path / "b", "present")
    for name, victim in (("one.jsonl", absent), ("two.jsonl", present)):
        (tmp_path / f"{name}.lock").symlink_to(victim.path)
        handler = wflogging.TaskEventHandler(tmp_path / name, max_bytes=10_000)
        _log(handler, 3)
        handler.close()
        assert handler.dropped == 3
        victim.assert_untouched()


def test_links_at_every_predictable_compression_name_are_not_followed(tmp_path: Path) -> None:
    """Links at the rotated names, their .gz and the old .gz.partial names of the next seconds: none followed.

    Every event still ends in exactly one file (plain or gzip).
    """
    logs = tmp_path / "logs"
    logs.mkdir()
    victims = []
    now = int(time.time())
    for second in range(now - 2, now + 30):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        for suffix in (".jsonl", ".jsonl.gz", ".jsonl.gz.partial", "-1.jsonl.gz.partial"):
            victim = Victim(tmp_path / "elsewhere", f"{stamp}{suffix}")
            (logs / f"events.{stamp}{suffix}").symlink_to(victim.path)
            victims.append(victim)
    handler = wflogging.TaskEventHandler(logs / "events.jsonl", max_bytes=20_000, compress=True)
    _log(handler, 60, size=1_000)
    handler.close()
    assert handler.dropped == 0
    for victim in victims:
        victim.assert_untouched()
    lines = b""
    for path in sorted(logs.iterdir()):
        if path.is_symlink() or path.name.endswith(".lock"):
            continue
        data = path.read_bytes()
        lines += gzip.decompress(data) if path.name.endswith(".gz") else data
    assert workers.check_stream(lines, {"w": 60}) == []
    assert not [path for path in logs.iterdir() if path.name.endswith(".partial") and not path.is_symlink()]


def test_an_existing_events_file_readable_by_others_is_warned_about_once(tmp_path: Path) -> None:
    """A 0644 events file stays as it is (it is the user's) but the handler warns, once."""
    events = tmp_path / "events.jsonl"
    events.touch(mode=0o644)
    os.chmod(events, 0o644)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        handler = wflogging.TaskEventHandler(events)
        _log(handler, 2)
        handler.close()
        _log(handler, 1)  # reopens after close: still one warning
        handler.close()
    [warning] = [w for w in warned if issubclass(w.category, ExposedFileWarning)]
    assert "0644" in str(warning.message)
    assert stat.S_IMODE(events.stat().st_mode) == 0o644  # the user's file: warned about, not changed


def test_the_exposure_warning_never_costs_an_event_even_as_an_error(tmp_path: Path) -> None:
    """Under -W error the warning would be raised inside emit: it is swallowed, the events written."""
    events = tmp_path / "events.jsonl"
    events.touch(mode=0o644)
    os.chmod(events, 0o644)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        handler = wflogging.TaskEventHandler(events, delay=True)
        _log(handler, 2)
        handler.close()
    assert handler.dropped == 0
    assert len(events.read_bytes().splitlines()) == 2
