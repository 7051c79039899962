"""Files the CLI writes (the timeline) are private and never written through a planted link."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import wflogging
from tests.conftest import unique_logger, valid_fields
from wflogging.cli import main


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    handler = wflogging.TaskEventHandler(path)
    logger = unique_logger()
    logger.addHandler(handler)
    with wflogging.workflow_run():
        logger.info(
            "task",
            extra=valid_fields(llm_trace=[{"model_name": "m", "prompt": "secret plan", "completion": "ok"}]),
        )
    handler.close()
    return path


@pytest.mark.parametrize("existing", [False, True], ids=["new", "over-a-0644-file"])
def test_the_timeline_is_written_0600_under_any_umask(
    tmp_path: Path, events: Path, existing: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "timeline.html"
    if existing:
        output.write_text("old")
        output.chmod(0o644)
    previous = os.umask(0o022)
    try:
        assert main(["timeline", "-o", str(output), str(events)]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert "secret plan" in output.read_text()
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".partial")] == []


def test_the_timeline_replaces_a_planted_link_instead_of_writing_through_it(
    tmp_path: Path, events: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    output = tmp_path / "timeline.html"
    output.symlink_to(victim)
    assert main(["timeline", "-o", str(output), str(events)]) == 0
    assert victim.read_text() == "precious"
    assert not output.is_symlink()
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
