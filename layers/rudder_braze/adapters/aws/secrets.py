"""Secrets from SSM Parameter Store (SecureString), read with Powertools Parameters and cached.

A value read once is kept: if SSM cannot be reached when the cache expires, the last value read is used (and the
failure logged), so an SSM outage does not stop delivery. Values are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from rudder_braze.adapters.aws import AwsClients

log = logging.getLogger(__name__)


class SecretUnavailable(RuntimeError):
    """A secret was never read and SSM cannot be reached now."""


class SecretStore:
    def __init__(self, names: Mapping[str, str], clients: AwsClients, max_age: int = 300) -> None:
        self._names = {key: name for key, name in names.items() if name}
        self._max_age = max_age
        self._clients = clients
        self._provider: Any = None
        self._values: dict[str, str] = {}
        self._read_at = 0.0

    def _ssm(self) -> Any:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._provider = SSMProvider(boto3_client=self._clients.client("ssm"))
        return self._provider

    def _refresh(self) -> None:
        wanted = {name: {"decrypt": True} for name in self._names.values()}
        values = self._ssm().get_parameters_by_name(wanted, max_age=self._max_age, raise_on_error=False)
        errors = values.pop("_errors", [])
        missing = [key for key, name in self._names.items() if name not in values]
        if errors or missing:
            log.warning("SSM parameters not read: %s", sorted(errors) or missing)
        for key, name in self._names.items():
            if name in values:
                self._values[key] = str(values[name])
        self._read_at = time.monotonic()

    def get(self, key: str) -> str | None:
        """The secret called ``key`` (``None`` if it is not configured)."""
        if key not in self._names:
            return None
        if not self._values or time.monotonic() - self._read_at >= self._max_age:
            try:
                self._refresh()
            except Exception as exc:  # any SSM or network failure: keep serving the cached values
                if key not in self._values:
                    raise SecretUnavailable(f"secret {key} could not be read from SSM: {type(exc).__name__}") from None
                log.warning("SSM unreachable (%s); using the cached value of %s", type(exc).__name__, key)
                self._read_at = time.monotonic()
        value = self._values.get(key)
        if value is None:
            raise SecretUnavailable(f"secret {key} is not set in SSM ({self._names[key]})")
        return value

    def optional(self, key: str) -> str | None:
        """Like :meth:`get`, but a secret that is absent or set to ``-`` (a placeholder for "none") is ``None``."""
        try:
            value = self.get(key)
        except SecretUnavailable:
            return None
        return None if value in (None, "", "-") else value
