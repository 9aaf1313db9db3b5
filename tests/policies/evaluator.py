"""A small IAM policy evaluator: exactly the semantics the project's policies use.

Why not a library: the maintained Python candidates either do not evaluate
conditions (policyuniverse, cloudsplaining and parliament parse and lint;
iam-ape expands effective permissions and carries conditions along
unevaluated; moto's access control matches only a few trust-policy string
conditions) or model a different problem (npkt simulates SCPs against
CloudTrail events, with fnmatch globbing and no policy variables).

What it models, after the IAM User Guide:

- evaluation logic (``reference_policies_evaluation-logic.html`` and
  ``..._evaluation-logic-cross-account.html``): an explicit Deny in any
  applicable policy wins; otherwise an Allow is needed, and when a resource
  policy is given (a role's trust policy for AssumeRole) the request is the
  cross-account case: the caller's identity policies *and* the resource policy
  must both allow it;
- ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?``),
  ``Resource``/``NotResource`` (case-sensitive ARN match segment by segment;
  ``*`` and ``?`` inside a segment, the resource segment may hold ``/`` and
  ``:``), ``Principal`` with ``AWS`` (role ARN, account root or id, ``*``) and
  ``Service``;
- conditions (``reference_policies_elements_condition_operators.html``): the
  String, Arn, Bool, IpAddress and Null operators, their negations and
  ``...IfExists``; blocks are ANDed across operators and keys, a key's values
  ORed (a negated operator is true when no value matches); a key missing from
  the request makes an operator false, a negated one true, ``...IfExists``
  true; ``ForAnyValue:``/``ForAllValues:`` over multivalued keys
  (``reference_policies_condition-single-vs-multi-valued-context-keys.html``:
  ForAllValues is true for a missing or empty key, ForAnyValue false);
  condition key names are case-insensitive;
- policy variables (``reference_policies_variables.html``) in ``Resource`` and
  in condition values, ``${*}``, ``${?}`` and ``${$}``; a variable the request
  cannot resolve makes the whole statement not apply (Allow and Deny alike),
  which is what the guide warns of.

What it cannot model, and raises :class:`NotModelled` for where a policy
would need it: other operators (Numeric, Date, Binary), a plain operator on a
multivalued key, variable defaults (``${key, 'default'}``), ``NotPrincipal``.
Never modelled at all: service control and resource control policies,
permission boundaries, session policies, resource policies other than the one
passed in, same-account grants by a resource policy alone, and anything a
service decides for itself: which condition keys SageMaker really puts into a
request (the request builders in this package follow the Service
Authorization Reference), how it authorizes a resource that does not exist yet,
and which dependent actions it checks.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ContextValue = str | tuple[str, ...]
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


class NotModelled(Exception):
    """The policy uses IAM semantics this evaluator does not model: extend it, do not guess."""


class _Unresolved(Exception):
    """A policy variable names a key the request does not have."""


@dataclass(frozen=True)
class Request:
    """One authorization request: who asks for which action on which resource, with what context."""

    action: str
    resource: str
    principal: str  # the caller's role (or user) ARN, or a service name
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def value(self, key: str) -> ContextValue | None:
        wanted = key.lower()
        for name, value in self.context.items():
            if name.lower() == wanted:
                return value
        return None


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Result:
    decision: Decision
    allowed_by: tuple[str, ...] = ()
    denied_by: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


@dataclass(frozen=True)
class Policy:
    """A parsed policy document; ``name`` labels its statements in results."""

    statements: tuple[Mapping[str, Any], ...]
    name: str = "policy"

    @classmethod
    def of(cls, document: Mapping[str, Any], name: str = "policy") -> Policy:
        if document.get("Version") != "2012-10-17":
            # Version 2008-10-17 treats ${...} literally; the project never writes it.
            raise NotModelled(f"{name}: policy Version {document.get('Version')!r}")
        statements = document.get("Statement") or []
        if isinstance(statements, Mapping):
            statements = [statements]
        return cls(tuple(statements), name)

    def label(self, index: int) -> str:
        return f"{self.name}:{self.statements[index].get('Sid') or index}"


def evaluate(
    request: Request, identity: Sequence[Policy], resource: Policy | None = None
) -> Result:
    """The decision for ``request`` under the caller's ``identity`` policies (and a resource policy)."""
    allows: dict[str, list[str]] = {"identity": [], "resource": []}
    denies: list[str] = []
    for kind, policies in (("identity", identity), ("resource", [resource] if resource else [])):
        for policy in policies:
            for index, statement in enumerate(policy.statements):
                if not _applies(statement, request, is_resource_policy=kind == "resource"):
                    continue
                effect = statement.get("Effect")
                if effect == "Deny":
                    denies.append(policy.label(index))
                elif effect == "Allow":
                    allows[kind].append(policy.label(index))
                else:
                    raise NotModelled(f"{policy.label(index)}: Effect {effect!r}")
    allowed_by = tuple(allows["identity"] + allows["resource"])
    if denies:
        return Result(Decision.EXPLICIT_DENY, allowed_by, tuple(denies))
    granted = bool(allows["identity"]) and (resource is None or bool(allows["resource"]))
    return Result(Decision.ALLOW if granted else Decision.IMPLICIT_DENY, allowed_by)


def _applies(statement: Mapping[str, Any], request: Request, *, is_resource_policy: bool) -> bool:
    if "NotPrincipal" in statement:
        raise NotModelled("NotPrincipal")
    if is_resource_policy and not _principal_matches(statement.get("Principal"), request.principal):
        return False
    if not _element_matches(statement, "Action", request.action, _action_matches):
        return False
    try:
        if is_resource_policy and "Resource" not in statement and "NotResource" not in statement:
            resource_ok = True  # a trust policy names no resource: the role itself
        else:
            resource_ok = _element_matches(
                statement, "Resource", request.resource,
                lambda pattern, value: _resource_matches(_substitute(pattern, request), value))
        return resource_ok and _conditions_hold(statement.get("Condition") or {}, request)
    except _Unresolved:
        return False


def _element_matches(statement: Mapping[str, Any], name: str, value: str, matches: Any) -> bool:
    if name in statement and f"Not{name}" in statement:
        raise NotModelled(f"both {name} and Not{name}")
    if name in statement:
        return any(matches(pattern, value) for pattern in _as_list(statement[name]))
    if f"Not{name}" in statement:
        return not any(matches(pattern, value) for pattern in _as_list(statement[f"Not{name}"]))
    raise NotModelled(f"a statement without {name} or Not{name}")


def _principal_matches(principal: Any, caller: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise NotModelled(f"Principal {principal!r}")
    for kind, values in principal.items():
        for value in _as_list(values):
            if kind == "Service" and value == caller:
                return True
            if kind == "AWS" and (value == "*" or value == caller or _is_account_of(value, caller)):
                return True
            if kind not in ("AWS", "Service"):
                raise NotModelled(f"Principal type {kind!r}")
    return False


def _is_account_of(value: str, caller: str) -> bool:
    parts = caller.split(":")
    if len(parts) < 6:
        return False
    account = parts[4]
    return value in (account, f"arn:{parts[1]}:iam::{account}:root")


def _action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern.lower()).fullmatch(action.lower()) is not None


def _resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), resource.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(_glob(p).fullmatch(a) for p, a in zip(wanted, actual, strict=True))


def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` wildcards; every other character literal (``\\0*`` marks a literal ``*``)."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\0" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        index += 1
    return re.compile("".join(out), re.DOTALL)


def _substitute(text: str, request: Request) -> str:
    """Policy variables replaced by request values; a substituted ``*`` or ``?`` stays literal."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _ESCAPES:
            literal = _ESCAPES[name]
        elif "," in name:
            raise NotModelled(f"variable default value in ${{{name}}}")
        else:
            found = request.value(name)
            if found is None:
                raise _Unresolved(name)
            if not isinstance(found, str):
                raise NotModelled(f"multivalued key {name} as a policy variable")
            literal = found
        return "".join("\0" + c if c in "*?\0" else c for c in literal)

    return _VARIABLE.sub(value, text)


def _string_like(context: str, policy: str) -> bool:
    return _glob(policy).fullmatch(context) is not None


def _ip_in(context: str, policy: str) -> bool:
    return ipaddress.ip_address(context) in ipaddress.ip_network(policy, strict=False)


# name -> (how one context value compares with one policy value, whether the operator is negated)
_BASE: dict[str, tuple[Any, bool]] = {
    "StringEquals": (lambda c, p: c == _plain(p), False),
    "StringNotEquals": (lambda c, p: c == _plain(p), True),
    "StringEqualsIgnoreCase": (lambda c, p: c.lower() == _plain(p).lower(), False),
    "StringNotEqualsIgnoreCase": (lambda c, p: c.lower() == _plain(p).lower(), True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (lambda c, p: c == _plain(p), False),
    "ArnNotEquals": (lambda c, p: c == _plain(p), True),
    "ArnLike": (lambda c, p: _resource_matches(p, c), False),
    "ArnNotLike": (lambda c, p: _resource_matches(p, c), True),
    "Bool": (lambda c, p: c.lower() == _plain(p).lower(), False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}


def _plain(policy_value: str) -> str:
    """A substituted value for an exact comparison (drop the literal-wildcard marks)."""
    return policy_value.replace("\0", "")


def _conditions_hold(block: Mapping[str, Any], request: Request) -> bool:
    return all(
        _condition_holds(operator, key, _as_list(values), request)
        for operator, keys in block.items()
        for key, values in keys.items()
    )


def _condition_holds(operator: str, key: str, values: list[Any], request: Request) -> bool:
    context = request.value(key)
    present = context is not None and context != ()
    if operator == "Null":
        (expected,) = values
        return str(expected).lower() == ("false" if present else "true")
    set_operator, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _BASE or set_operator not in ("", "ForAnyValue", "ForAllValues"):
        raise NotModelled(f"condition operator {operator}")
    if set_operator and if_exists:
        raise NotModelled(f"condition operator {operator}")
    compare, negated = _BASE[base]
    patterns = [_substitute(str(v), request) for v in values]

    def holds_for(one: str) -> bool:
        matched = any(compare(one, pattern) for pattern in patterns)
        return not matched if negated else matched

    if set_operator == "ForAllValues":
        return all(holds_for(v) for v in _as_tuple(context))
    if set_operator == "ForAnyValue":
        return any(holds_for(v) for v in _as_tuple(context))
    if not present:
        return if_exists or negated
    if not isinstance(context, str):
        raise NotModelled(f"{operator} without a set operator on the multivalued key {key}")
    return holds_for(context)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _as_tuple(value: ContextValue | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
