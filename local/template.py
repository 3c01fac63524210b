"""Read ``template.yaml`` for the local stack: queues, table, parameter names, function settings and API routes
come from the template itself, so the local stack cannot drift from what is deployed."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
JSON = dict[str, Any]


@dataclass
class FunctionSpec:
    name: str
    handler_file: Path
    handler_name: str
    timeout: int
    memory: int
    environment: dict[str, str]
    events: dict[str, JSON] = field(default_factory=dict)
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions; None: the account's unreserved pool
    role: str = ""  # the logical id of its execution role


class Template:
    """The template with CloudFormation intrinsics resolved for one local deployment."""

    def __init__(
        self, environment: str = "local", overrides: dict[str, str] | None = None, path: Path | None = None
    ) -> None:
        self.doc: JSON = yaml_parse((path or ROOT / "template.yaml").read_text(encoding="utf-8"))
        self.parameters: dict[str, Any] = {
            name: spec.get("Default") for name, spec in self.doc.get("Parameters", {}).items()
        }
        self.parameters.update({"Environment": environment, **(overrides or {})})
        for name, spec in self.doc.get("Parameters", {}).items():  # a list parameter's value is a list, as in AWS
            if spec.get("Type") == "CommaDelimitedList" and isinstance(self.parameters[name], str):
                self.parameters[name] = [item.strip() for item in self.parameters[name].split(",")]
        self.physical: dict[str, JSON] = {}  # logical id → {"Ref": ..., "Arn": ..., "QueueName": ...}
        self.region = "us-east-1"
        self.account = "123456789012"

    @property
    def resources(self) -> dict[str, JSON]:
        resources: dict[str, JSON] = self.doc["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, JSON]:
        """The resources of one type that this deployment creates (their Condition, if any, holds)."""
        return {name: r for name, r in self.resources.items() if r["Type"] == kind and self.exists(name)}

    def exists(self, logical: str) -> bool:
        condition = self.resources[logical].get("Condition")
        return condition is None or self.condition(condition)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.doc.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        """Resolve Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::If, Fn::Equals, Fn::Not, Fn::And and Condition against
        parameters and local resources."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        intrinsic: Callable[[Any], Any] | None = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": lambda a: self.resolve(a[1] if self.condition(a[0]) else a[2]),
            "Fn::Equals": lambda a: self.resolve(a[0]) == self.resolve(a[1]),
            "Fn::Not": lambda a: not self.resolve(a[0]),
            "Fn::And": lambda a: all(self.resolve(c) for c in a),
            "Condition": self.condition,
            "Fn::Join": lambda a: str(a[0]).join(str(part) for part in self.resolve(a[1])),
        }.get(key)
        return intrinsic(arg) if intrinsic is not None else {key: self.resolve(arg)}

    def _get_att(self, arg: Any) -> Any:
        logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
        return self.physical[logical][attribute]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(variables.get(m.group(1), self._sub_name(m.group(1)))), text)

    def _sub_name(self, name: str) -> Any:
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self.physical[logical][attribute]
        return self._ref(name)

    def _ref(self, name: str) -> Any:
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}  # fmt: skip
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical[name]["Ref"]

    def function(self, logical: str) -> FunctionSpec:
        globals_ = self.doc.get("Globals", {}).get("Function", {})
        properties = self.resources[logical]["Properties"]
        variables = {**globals_.get("Environment", {}).get("Variables", {}),
                     **properties.get("Environment", {}).get("Variables", {})}  # fmt: skip
        module, handler = properties["Handler"].rsplit(".", 1)
        return FunctionSpec(
            name=str(self.resolve(properties.get("FunctionName", logical))),
            handler_file=ROOT / properties["CodeUri"] / f"{module}.py",
            handler_name=handler,
            timeout=int(properties.get("Timeout", globals_.get("Timeout", 3))),
            memory=int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
            environment={k: str(self.resolve(v)) for k, v in variables.items() if self.resolve(v) is not None},
            events=properties.get("Events", {}),
            reserved_concurrency=_optional_int(self.resolve(properties.get("ReservedConcurrentExecutions"))),
            role=properties["Role"]["Fn::GetAtt"][0],
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
