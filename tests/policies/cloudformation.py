"""Just enough of CloudFormation to see a template's policies as a stack would deploy them.

A :class:`Stack` is a template with parameter values (overrides, else
defaults), an account, a region and a partition. It resolves ``Ref`` (to
parameters and pseudo parameters; a resource to its logical id),
``Fn::Sub`` (both forms, ``${!Literal}``), ``Fn::Join``, ``Fn::If`` with the
template's ``Conditions`` (``Fn::Equals``/``Not``/``And``/``Or``,
``Condition``), ``Fn::GetAtt`` of an IAM role's ``Arn``, and drops
``AWS::NoValue``; resources whose ``Condition`` is false do not exist. Anything
else raises, so a template change that this cannot follow fails loudly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cfnlint.decode import decode_str

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NO_VALUE = object()


def load_template(text: str) -> dict[str, Any]:
    """A template as plain data, short-form intrinsics in their long form (cfn-lint's decoder)."""
    template, matches = decode_str(text)
    if matches:
        raise ValueError([str(m) for m in matches])
    return _plain(template)


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return str(node) if isinstance(node, str) else node


@dataclass
class Stack:
    template: Mapping[str, Any]
    parameters: Mapping[str, str] = field(default_factory=dict)
    account_id: str = "111111111111"
    region: str = "us-east-1"
    partition: str = "aws"

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters") or {}
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise ValueError(f"the template does not declare {sorted(unknown)}")
        self._values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in self.parameters:
                raw = self.parameters[name]
            elif "Default" in spec:
                raw = str(spec["Default"])
            else:
                raise ValueError(f"parameter {name} has no value and no default")
            is_list = spec.get("Type") == "CommaDelimitedList" or spec.get("Type", "").startswith("List<")
            self._values[name] = raw.split(",") if is_list else raw

    @property
    def pseudo(self) -> dict[str, str]:
        return {"AWS::AccountId": self.account_id, "AWS::Region": self.region,
                "AWS::Partition": self.partition, "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": "stack"}

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every resource the stack would create, its properties resolved."""
        out = {}
        for name, resource in (self.template.get("Resources") or {}).items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[name] = {"Type": resource["Type"],
                         "Properties": self.resolve(resource.get("Properties") or {})}
        return out

    def condition(self, name: str) -> bool:
        return bool(self._condition((self.template.get("Conditions") or {})[name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, Mapping):
            return node
        if len(node) == 1:
            (name, argument), = node.items()
            if name == "Ref" or name.startswith("Fn::"):
                return self._intrinsic(name, argument)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Ref":
            return self._ref(argument)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            separator, values = argument
            return separator.join(str(v) for v in self._flat(self.resolve(values)))
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::GetAtt":
            logical, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self._get_att(logical, attribute)
        raise NotImplementedError(f"{name} is not resolved by tests/policies/cloudformation.py")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self._values:
            return self._values[name]
        if name in (self.template.get("Resources") or {}):
            return name  # a resource's physical id is not known before deployment
        raise KeyError(f"Ref {name}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def value(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner and inner.split(".", 1)[0] in (self.template.get("Resources") or {}):
                return str(self._get_att(*inner.split(".", 1)))
            resolved = self._ref(inner)
            if isinstance(resolved, list):
                raise ValueError(f"${{{inner}}} is a list")
            return str(resolved)

        return _SUB_VARIABLE.sub(value, text)

    def _get_att(self, logical: str, attribute: str) -> str:
        resource = (self.template.get("Resources") or {})[logical]
        if resource["Type"] == "AWS::IAM::Role" and attribute == "Arn":
            props = self.resolve(resource.get("Properties") or {})
            return (f"arn:{self.partition}:iam::{self.account_id}:role"
                    f"{props.get('Path', '/')}{props.get('RoleName', logical)}")
        raise NotImplementedError(f"GetAtt {logical}.{attribute}")

    def _condition(self, node: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        (name, argument), = node.items()
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = (self._condition(self.resolve(a)) for a in argument)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self._condition(argument[0])
        if name == "Fn::And":
            return all(self._condition(a) for a in argument)
        if name == "Fn::Or":
            return any(self._condition(a) for a in argument)
        return self.resolve(node)

    @staticmethod
    def _flat(values: Any) -> list[Any]:
        if not isinstance(values, list):
            return [values]
        return [item for value in values for item in Stack._flat(value)]


def role_policies(stack: Stack, role: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, document) of every identity policy the stack attaches to role ``role``.

    Inline ``Policies`` of the role and ``AWS::IAM::Policy`` / ``ManagedPolicy``
    resources that name it in ``Roles`` (by ``Ref``, resolved to its logical id).
    """
    resources = stack.resources()
    inline = resources[role]["Properties"].get("Policies", [])
    found = [(p["PolicyName"], p["PolicyDocument"]) for p in inline]
    for name, resource in resources.items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and \
                role in resource["Properties"].get("Roles", []):
            props = resource["Properties"]
            found.append((props.get("PolicyName") or props.get("ManagedPolicyName") or name,
                          props["PolicyDocument"]))
    return found
