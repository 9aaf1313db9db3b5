"""The real SAM transform, offline, and a few ways to read what it makes.

cfn-lint 1.x no longer runs the SAM transform (it validates SAM resources
against SAM's schemas), so the tests call AWS's own translator,
``samtranslator`` (aws-sam-translator, the code behind the
``AWS::Serverless-2016-10-31`` transform), the way cfn-lint 0.x did in its
``template/transforms/_sam.py``: a ``Translator`` with a managed-policy map that
needs no network and a boto3 session that only names a region (for the
``AWS::Region``/``AWS::Partition`` pseudo parameters; no call is made).

A local ``CodeUri`` becomes an S3 URI first, as ``sam deploy`` (``sam package``)
does before CloudFormation sees the template. Parameter defaults apply unless
``parameters`` overrides them. SAM substitutes a few parameters itself (the
deployment preference); everything else, conditions included, stays an
intrinsic, exactly as CloudFormation receives it.

``evaluate`` then plays CloudFormation's part for one set of parameter values:
conditions decided, resources whose condition is false dropped, ``Fn::If``
branches chosen, parameter ``Ref``s replaced by values, ``AWS::NoValue``
removed; ``references`` and ``depends_on`` read the resource graph.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import decode_str
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

REGION = "us-east-1"
_NO_VALUE = object()


def load_template(text: str) -> dict[str, Any]:
    """A CloudFormation YAML document as plain dicts (short-form intrinsics in long form)."""
    template, matches = decode_str(text)
    assert not matches, [str(m) for m in matches]
    return json.loads(json.dumps(template))  # cfn-lint's node classes -> plain dict/list/str


def transform(text: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of ``text``."""
    template = load_template(text)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        code = props.get("CodeUri")
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(code, str) \
                and not code.startswith("s3://"):
            props["CodeUri"] = f"s3://sam-package-bucket/{code}"  # what sam package uploads
    translator = Translator(
        managed_policy_map={},  # the hub names its managed policies by ARN: no lookup is needed
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name=REGION),
    )
    transformed = translator.translate(
        sam_template=template, parameter_values=dict(parameters or {}), get_managed_policy_map=dict)
    return json.loads(json.dumps(transformed))


def transform_file(path: Path, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return transform(path.read_text(), parameters)


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """The one resource of ``kind`` (name, resource); fails if there are none or several."""
    found = resources_of_type(template, kind)
    assert len(found) == 1, f"{kind}: {sorted(found)}"
    return next(iter(found.items()))


def evaluate(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The resources CloudFormation would create for these parameter values (defaults otherwise)."""
    values = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    values.update(parameters or {})
    conditions: dict[str, bool] = {}

    def condition(name: str) -> bool:
        if name not in conditions:
            conditions[name] = bool(resolve(template["Conditions"][name]))
        return conditions[name]

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (resolve(n) for n in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref" and arg == "AWS::NoValue":
                return _NO_VALUE
            if key == "Ref" and arg in values:
                kind = template["Parameters"][arg]["Type"]
                return values[arg].split(",") if kind == "CommaDelimitedList" else values[arg]
            if key == "Fn::If":
                return resolve(arg[1] if condition(arg[0]) else arg[2])
            if key == "Condition":
                return condition(arg)
            if key == "Fn::Equals":
                left, right = (str(resolve(a)) for a in arg)
                return left == right
            if key == "Fn::Not":
                return not resolve(arg[0])
            if key == "Fn::And":
                return all(resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(resolve(a) for a in arg)
            if key == "Fn::Join" and all(isinstance(v, str) for v in resolve(arg[1])):
                return resolve(arg[0]).join(resolve(arg[1]))
        return {k: v for k, v in ((k, resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}

    resources = {name: resource for name, resource in template["Resources"].items()
                 if "Condition" not in resource or condition(resource["Condition"])}
    return {**template, "Parameters": values, "Resources": resolve(resources)}


def references(node: Any) -> set[str]:
    """Logical ids (or parameter names) named by Ref, Fn::GetAtt and Fn::Sub anywhere in ``node``."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^!}][^}]*)\}", text)
                          if name.split(".")[0] not in variables}
                found |= references(variables)
            else:
                found |= references(arg)
    return {name for name in found if not name.startswith("AWS::")}


def direct_dependencies(template: dict[str, Any], name: str) -> set[str]:
    resource = template["Resources"][name]
    depends = resource.get("DependsOn", [])
    named = references(resource.get("Properties", {}))
    named |= set([depends] if isinstance(depends, str) else depends)
    return named & set(template["Resources"])


def depends_on(template: dict[str, Any], name: str) -> set[str]:
    """Every resource CloudFormation must create before ``name`` (directly or through others)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in direct_dependencies(template, todo.pop()) - seen:
            seen.add(dep)
            todo.append(dep)
    return seen
