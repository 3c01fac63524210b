from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rudder_braze.app.cli import main

TRACK = {"type": "track", "messageId": "m1", "userId": "u1", "event": "Clicked", "timestamp": "t"}
IDENTIFY = {"type": "identify", "messageId": "m2", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro"}}
BAD = {"type": "track", "messageId": "m3", "userId": "u1"}


def run(tmp_path: Path, document: object, *args: str, config: object = None) -> tuple[int, list[dict[str, Any]]]:
    source = tmp_path / "events.json"
    source.write_text(json.dumps(document) if not isinstance(document, str) else document)
    argv = ["transform", *args, str(source)]
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        argv[1:1] = ["--config", str(tmp_path / "config.json")]
    out = io.StringIO()
    code = main(argv, out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_line_per_event_in_input_order_with_the_merge_first(tmp_path: Path) -> None:
    code, lines = run(tmp_path, [TRACK, IDENTIFY, BAD])
    assert code == 0
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert [r["path"] for r in lines[1]["requests"]] == ["/users/identify", "/users/track"]
    assert lines[2] == {
        "index": 2,
        "messageId": "m3",
        "status": 400,
        "error": "track: $.event is required",
        "path": "$.event",
    }
    assert "Authorization" not in json.dumps(lines) and "REST" not in json.dumps(lines)


def test_every_input_shape_is_read(tmp_path: Path) -> None:
    for document in (TRACK, [TRACK], {"batch": [TRACK]}, json.dumps(TRACK) + "\n" + json.dumps(IDENTIFY) + "\n"):
        code, lines = run(tmp_path, document)
        assert code == 0 and lines[0]["messageId"] == "m1"


def test_batch_prints_packed_requests_then_rejected_events(tmp_path: Path) -> None:
    code, lines = run(tmp_path, [TRACK, IDENTIFY, BAD], "--batch")
    assert code == 0
    assert [line.get("path") for line in lines] == ["/users/identify", "/users/track", "$.event"]
    assert sorted(lines[1]["messageIds"]) == ["m1", "m2"]
    assert lines[2]["status"] == 400


def test_unreadable_input_and_invalid_config_exit_2(tmp_path: Path, capsys: object) -> None:
    assert run(tmp_path, "{not json")[0] == 2
    assert run(tmp_path, [TRACK], config={"dataCenter": "US"})[0] == 2


def test_console_script_and_module_read_stdin() -> None:
    console_script = str(Path(sys.executable).parent / "rudder-braze")
    for command in ([console_script], [sys.executable, "-m", "rudder_braze"]):
        done = subprocess.run(  # noqa: S603 - our own interpreter and script
            [*command, "transform"], input=json.dumps(TRACK), capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["requests"][0]["path"] == "/users/track"


def test_the_cli_refuses_unwritable_values_per_event_with_valid_json_out() -> None:
    head = '{"type": "track", "userId": "u", "event": "E", "timestamp": "2026-12-04T10:00:00Z", '
    lines = [head + '"messageId": "c-1"}', head + '"messageId": "c-2", "properties": {"x": "\\ud800"}}',
             head + '"messageId": "c-3", "properties": {"x": 1e999}}']  # fmt: skip
    command = [sys.executable, "-m", "rudder_braze", "transform"]
    done = subprocess.run(command, check=False, input="\n".join(lines), capture_output=True, text=True)  # noqa: S603
    assert done.returncode == 0, done.stderr
    out = [json.loads(line, parse_constant=_not_json) for line in done.stdout.splitlines()]  # strict JSON, every line
    assert [o.get("status") for o in out] == [None, 400, 400]
    assert [o.get("path") for o in out] == [None, "$.properties.x", "$.properties.x"]


def _not_json(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


def test_every_subcommands_help_says_what_it_does_in_one_screen() -> None:
    for command in ("transform", "trace", "replay", "delete-users"):
        shown = subprocess.run(  # noqa: S603 - our own interpreter and package
            [sys.executable, "-m", "rudder_braze", command, "--help"], capture_output=True, text=True, check=True,
            env={"COLUMNS": "100", "PATH": ""},
        ).stdout  # fmt: skip
        lines = shown.splitlines()
        assert lines[0].startswith(f"usage: rudder-braze {command}") and len(lines) <= 40, shown
        assert len(lines) > 5 and all(len(line) <= 100 for line in lines)


def test_without_a_running_local_stack_the_commands_say_how_to_start_one(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "3999")
    assert main(["trace", "m-1"], io.StringIO()) == 2
    assert "no local stack on port 3999" in capsys.readouterr().err
