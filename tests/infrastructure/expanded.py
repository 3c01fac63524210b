"""The SAM template as CloudFormation receives it: expanded offline by the SAM translator."""

from __future__ import annotations

import os
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

Template = dict[str, Any]


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def expand(parameters: dict[str, str]) -> Template:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:  # the translator accepts only S3 locations
                properties[key] = "s3://bucket/artifact.zip"
    expanded: Template = transform(template, parameters, _NoManagedPolicies())
    return expanded


def resources(template: Template, kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(template: Template, role: str) -> list[dict[str, Any]]:
    properties = template["Resources"][role]["Properties"]
    assert not properties.get("ManagedPolicyArns"), "managed policies grant actions on '*'"
    statements = []
    for policy in properties["Policies"]:
        for entry in policy["PolicyDocument"]["Statement"]:
            # a statement under an Fn::If (tracing, a delivery mode): each branch that is one, in some deployment
            branches = entry["Fn::If"][1:] if "Fn::If" in entry else [entry]
            statements += [branch for branch in branches if branch != {"Ref": "AWS::NoValue"}]
    return statements
