"""The local stack itself, where a test relies on it behaving as AWS does."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import StartStack
from tests.integration.conftest import api_event, ingest, sample


def test_every_stack_of_a_process_logs_to_its_own_files(tmp_path: Path, start_stack: StartStack) -> None:
    """Powertools sets a service's logger up once per process: a second stack's functions must still log to the
    second stack's files (as each deployment has its own CloudWatch log groups), not to the first one's console."""
    for name in ("first", "second"):
        stack = start_stack(poll=False, log_dir=tmp_path / name)
        event = {**sample("track"), "messageId": f"{name}-stack-event"}
        assert ingest(stack, api_event(event))[0] == 200
        stack.stop()  # the files are read whole: after the functions have flushed them
    for name, other in (("first", "second"), ("second", "first")):
        logged = (tmp_path / name / "ingest.log").read_text()
        assert f'"messageId":"{name}-stack-event"' in logged and f"{other}-stack-event" not in logged
