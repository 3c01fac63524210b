"""``make secrets ENV=<env>``: write one environment's secrets as SSM SecureStrings.

Values come from environment variables (``BRAZE_REST_API_KEY``, ``BRAZE_APP_KEY``, ``WEBHOOK_TOKEN``) or, when
unset and a terminal is attached, from a hidden prompt. ``--rotate-token`` makes the current webhook token the
previous one (still accepted) and stores a new one: update RudderStack's header, then run it again (or write
``-`` to ``webhook-previous-token``) to end the rotation window. Values are never printed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Callable
from typing import Any

NAMES = {
    "braze-rest-api-key": "BRAZE_REST_API_KEY",
    "braze-app-key": "BRAZE_APP_KEY",
    "webhook-token": "WEBHOOK_TOKEN",
}
NONE = "-"  # SecureStrings cannot be empty: "-" means "no value"


def parameter_name(prefix: str, env: str, name: str) -> str:
    return f"/{prefix}/{env}/{name}"


def _current(ssm: Any, name: str) -> str | None:
    try:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    return None if value == NONE else str(value)


def write_secrets(
    ssm: Any, prefix: str, env: str, values: dict[str, str | None], rotate_token: bool = False
) -> list[str]:
    """Store the given values (``None`` = leave as is); return the names written."""
    written: list[str] = []

    def put(name: str, value: str) -> None:
        full = parameter_name(prefix, env, name)
        ssm.put_parameter(Name=full, Value=value, Type="SecureString", Overwrite=True)
        written.append(full)

    if rotate_token:
        previous = _current(ssm, parameter_name(prefix, env, "webhook-token"))
        put("webhook-previous-token", previous or NONE)
        values = {**values, "webhook-token": values.get("webhook-token") or secrets.token_urlsafe(32)}
    for name, value in values.items():
        if value:
            put(name, value)
    if _current(ssm, parameter_name(prefix, env, "webhook-previous-token")) is None and not rotate_token:
        put("webhook-previous-token", NONE)
    return written


def _ask(name: str, variable: str, prompt: Callable[[str], str]) -> str | None:
    value = os.environ.get(variable)
    if value:
        return value
    if not sys.stdin.isatty():
        return None
    typed = prompt(f"{name} (empty = keep the stored value; webhook-token empty = generate one): ")
    if not typed and name == "webhook-token":
        return secrets.token_urlsafe(32)
    return typed or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", required=True, choices=["dev", "staging", "prod", "local"])
    parser.add_argument("--prefix", default="rudder-braze")
    parser.add_argument("--rotate-token", action="store_true")
    args = parser.parse_args(argv)
    import boto3

    values = {name: _ask(name, variable, getpass.getpass) for name, variable in NAMES.items()}
    if args.rotate_token:
        values["webhook-token"] = os.environ.get("WEBHOOK_TOKEN")
    written = write_secrets(boto3.client("ssm"), args.prefix, args.env, values, args.rotate_token)
    for name in written:
        print(f"wrote {name} (SecureString)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
