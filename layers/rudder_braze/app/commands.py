"""The operator commands of ``rudder-braze`` (trace, replay, delete-users): arguments in, a bridge found, one JSON
line per result out. What each does is in :mod:`rudder_braze.operations`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from rudder_braze.operations.bridge import Bridge, find_bridge
from rudder_braze.operations.replay import DEFAULT_BATCH, DEFAULT_RATE


def _dump(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")


def _bridge(args: argparse.Namespace) -> Bridge:
    """The bridge the arguments name: ``--to`` with ``--token`` needs nothing else; otherwise the environment or
    the local stack, its URL and token replaced by ``--to`` and ``--token`` when given."""
    to, token = getattr(args, "to", None), getattr(args, "token", None)
    base = to.rstrip("/").removesuffix("/v1/batch").removesuffix("/v1/webhook") if to else None
    if base and token:
        from rudder_braze.adapters.aws import AwsClients

        return Bridge(base, token, {}, AwsClients())
    bridge = find_bridge(args.env, token=token)
    return replace(bridge, api_url=base) if base else bridge


def trace(args: argparse.Namespace, out: TextIO) -> int:
    from rudder_braze.adapters.aws.idempotency import IdempotencyTable
    from rudder_braze.adapters.aws.state import StateTable
    from rudder_braze.operations.trace import EventTrace

    bridge = _bridge(args)
    table = bridge.output("StateTableName")
    records = IdempotencyTable(table, expires_after_seconds=3600, clients=bridge.aws)  # reads only
    for line in EventTrace(records, StateTable(table, bridge.aws), buffered=bridge.buffered).trace(args.message_ids):
        _dump(line, out)
    return 0


def replay(args: argparse.Namespace, out: TextIO) -> int:
    from tqdm import tqdm

    from rudder_braze.operations.client import BridgeClient
    from rudder_braze.operations.replay import Checkpoint, Pace, Replay, ReplayStopped
    from rudder_braze.operations.sources import find_sources

    bridge = _bridge(args)
    sources = find_sources(args.sources, lambda: bridge.aws.client("s3"))
    client = BridgeClient(bridge)
    run = Replay(lambda events: client.post("/v1/batch", {"batch": events}), Pace(args.rate, args.batch),
                 Checkpoint(Path(args.checkpoint) if args.checkpoint else None))  # fmt: skip
    status = 0
    # On a terminal: bytes read of the sources (compressed as stored), with rate and time left; else nothing.
    with tqdm(total=sum(s.size for s in sources), unit="B", unit_scale=True, disable=None, file=sys.stderr) as bar:
        try:
            run.run(sources, bar.update)
        except ReplayStopped as exc:
            print(f"rudder-braze replay: {exc}", file=sys.stderr)
            status = 1
        except KeyboardInterrupt:
            print(
                "rudder-braze replay: interrupted; run it again with the same --checkpoint to resume", file=sys.stderr
            )
            status = 130
    _dump(run.tally.summary(), out)
    return status


def delete_users(args: argparse.Namespace, out: TextIO) -> int:
    from rudder_braze.operations.client import BridgeClient

    aliases = []
    for alias in args.alias or []:
        label, _, name = alias.partition(":")
        aliases.append({"alias_name": name, "alias_label": label})
    body: dict[str, Any] = {"userIds": args.user_ids} if args.user_ids else {}
    if aliases:
        body["aliases"] = aliases
    answer = BridgeClient(_bridge(args)).post("/v1/deletions", body)
    _dump({"status": answer.status, **(answer.body if isinstance(answer.body, dict) else {"body": answer.body})}, out)
    if answer.status not in (200, 202):
        return 1
    return 1 if answer.body.get("dead_lettered") else 0


def add_commands(commands: Any) -> None:
    """The operator subcommands, on ``rudder-braze``'s parser."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--env", help="a deployed environment (stack rudder-braze-ENV); default: the stack make local "
                       "runs on $PORT")  # fmt: skip
    token = argparse.ArgumentParser(add_help=False)
    token.add_argument("--token", help="the webhook token (default: $WEBHOOK_TOKEN, SSM, or the local stack's)")
    for name, run, parents, summary, description in _COMMANDS:
        command = commands.add_parser(name, parents=[where, token][:parents], help=summary, description=description)
        command.set_defaults(run=run)
        _ARGUMENTS[name](command)


def _trace_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("message_ids", nargs="+", metavar="MESSAGE_ID")


def _replay_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--to", help="the bridge's base URL (default: the environment's or the local stack's)")
    command.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help=f"events per second (default {DEFAULT_RATE:g})"
    )
    command.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help=f"events per request (default {DEFAULT_BATCH})"
    )
    command.add_argument("--checkpoint", help="a file recording what the bridge has answered for, to resume from")
    command.add_argument("sources", nargs="+", metavar="SOURCE")


def _delete_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--alias", action="append", metavar="LABEL:NAME", help="a user alias (repeatable)")
    command.add_argument("user_ids", nargs="*", metavar="USER_ID", help="external_ids (RudderStack userIds)")


_ARGUMENTS = {"trace": _trace_arguments, "replay": _replay_arguments, "delete-users": _delete_arguments}
# name, what runs it, how many of the shared options it takes (--env, --token), its help line, its description
_COMMANDS = [
    ("trace", trace, 1, "what happened to events, by messageId (one JSON line each)",
     "Print one JSON line per messageId: outcome (delivered, queued, dead_lettered, filtered, in_progress, "
     "unknown), receivedAt, attempts, lastError and where the event is now (a queue, or the Braze paths it "
     "reached), from the state the bridge keeps (for its TTL). No payload values."),
    ("replay", replay, 2, "post historical events to the bridge's /v1/batch, resumable",
     "Post RudderStack events from JSON-lines files (.gz too), folders of them or s3://bucket/prefix (RudderStack's "
     "S3 destination layout) to /v1/batch at a steady rate. messageIds are kept, so the bridge's dedup makes a "
     "second replay add nothing. Backs off on 429/503; --checkpoint resumes after Ctrl-C or a crash. Ends with one "
     "JSON line: sent, accepted, rejected, duplicates, seconds."),
    ("delete-users", delete_users, 2, "delete users from Braze, once each (POST /v1/deletions)",
     "Delete users from the environment's Braze workspace through the bridge: at most 1,000 per call, each once (a "
     "repeated call reports already_deleted); throttled deletions wait in the retry queue. Prints the bridge's "
     "answer as one JSON line; exits 1 if a deletion was refused for good."),
]  # fmt: skip
