"""``rudder-braze``: the dry run ("what would Braze receive for this event?") and the operator commands (trace,
replay, delete-users)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from rudder_braze.app.commands import add_commands
from rudder_braze.config import ConfigError, load_settings
from rudder_braze.errors import InputError
from rudder_braze.operations.bridge import BridgeNotFound
from rudder_braze.usecases.transform import transform_batch, transform_many


def _dump(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")


def _read_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    # Accept a whole RudderStack destination object as well as its Config.
    if isinstance(config, dict) and isinstance(config.get("Config"), dict):
        config = config["Config"]
    if not isinstance(config, dict):
        raise ConfigError(f"config {path} must be a JSON object")
    return config


def _transform(args: argparse.Namespace, out: TextIO) -> None:
    settings = load_settings(_read_config(args.config))
    data = Path(args.file).read_bytes() if args.file not in (None, "-") else sys.stdin.buffer.read()
    if args.batch:
        # Like RudderStack's router, a batch de-duplicates attributes within itself when supportDedup is on.
        packed, rejected = transform_batch(data, settings, fingerprints={})
        for request in packed:
            _dump(
                {"method": "POST", "path": request.path, "body": request.body, "messageIds": request.message_ids}, out
            )
        for result in rejected:
            _dump(result.as_json(), out)
    else:
        for result in transform_many(data, settings):
            _dump(result.as_json(), out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rudder-braze", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    transform = commands.add_parser(
        "transform",
        help="print the Braze requests for RudderStack events (a dry run; nothing is sent)",
        description='Read events (one object, an array, {"batch": [...]} or JSON Lines) and print JSON Lines.',
    )
    transform.add_argument("--config", help="RudderStack Braze destination config (JSON); defaults apply without it")
    transform.add_argument("--batch", action="store_true", help="pack requests as the delivery path does")
    transform.add_argument("file", nargs="?", help="input file (default: standard input)")
    transform.set_defaults(run=_transform_command)
    add_commands(commands)
    return parser


def _transform_command(args: argparse.Namespace, out: TextIO) -> int:
    _transform(args, out)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args, out or sys.stdout)
    except (ConfigError, InputError, OSError, BridgeNotFound) as exc:
        print(f"rudder-braze: {exc}", file=sys.stderr)
        return 2
    return status
