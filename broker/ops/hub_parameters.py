"""The hub stack's parameters that the routing table decides (``broker routing hub-parameters``).

template.yaml lets the broker's role assume ``arn:${AWS::Partition}:iam::*:role/
${BrokerAccessRoleName}`` and nothing else, so that parameter must be the
broker-access role name of every team; ``SamlEntityId`` is the audience the
IdP applications were given. Deriving them from routing.yaml, which CI
validates, keeps the hub and the table in agreement by construction.

``RoutingDigest`` (added by the command, from the file's bytes): what the
deployed table is, for ``broker doctor``.

``CustomAcsUrl``: the hub's ``AcsUrl`` output is ``CustomAcsUrl`` when set,
else the API's own execute-api URL. The broker itself checks Destination
and Recipient against ``service_provider.acs_url``; so an execute-api
``acs_url`` gives ``CustomAcsUrl=""`` (the hub reports its own URL) and any
other URL (a custom domain in front of the API) is passed as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from broker.config import RoutingTable
from broker.exceptions import ConfigurationError

# https://{api-id}.execute-api.{region}.amazonaws.com[.cn]/... (API Gateway's default endpoint)
# `broker init`'s placeholder (RFC 6761's reserved .invalid): the hub is to report its own URL.
_PENDING = re.compile(r"^https://[^/]+\.invalid(/|$)")
_EXECUTE_API = re.compile(r"^https://[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(/|$)")


def hub_parameters(table: RoutingTable) -> dict[str, str]:
    """``BrokerAccessRoleName``, ``SamlEntityId``, ``CustomAcsUrl`` (and, with an ``identity_store``,
    ``IdentityStoreReaderRoleArn``) of the hub stack for ``table``.

    Raises :class:`ConfigurationError` when the teams use more than one
    broker-access role name (``broker routing validate`` shows where).
    """
    users: dict[str, list[str]] = {}
    for team in sorted(table.teams.values(), key=lambda t: t.id):
        users.setdefault(team.spoke_access.role_name, []).append(team.id)
    if not users:  # the bootstrap state (no team yet): the table-wide name is the one to trust
        users[table.spoke_access.role_name] = []
    if len(users) != 1:
        listing = "; ".join(f"{name}: {', '.join(teams)}" for name, teams in sorted(users.items()))
        raise ConfigurationError([
            f"{table.source}: the teams use {len(users)} broker-access role names ({listing}), the hub "
            "lets the broker assume one (BrokerAccessRoleName): see `broker routing validate` "
            "[broker-access-role-name]"])
    acs_url = table.service_provider.acs_url
    parameters = {
        "BrokerAccessRoleName": next(iter(users)),
        "SamlEntityId": table.service_provider.entity_id,
        "CustomAcsUrl": "" if _EXECUTE_API.match(acs_url) or _PENDING.match(acs_url) else acs_url,
    }
    if table.identity_store is not None:  # the broker and the reconcile job may assume that reader
        parameters["IdentityStoreReaderRoleArn"] = table.identity_store.role_arn
    return parameters


def routing_digest(text: bytes) -> str:
    """The ``RoutingDigest`` of a routing table file: SHA-256 of its bytes, as the package ships them.

    The hub stack keeps it as an output, so ``broker doctor`` can tell whether the deployed
    broker runs the repository's table.
    """
    import hashlib

    return hashlib.sha256(text).hexdigest()


def parameter_overrides(parameters: Mapping[str, str]) -> str:
    """``Key=Value`` pairs as ``sam deploy --parameter-overrides`` reads them.

    SAM splits on spaces and unwraps double-quoted values (samcli/cli/types.py,
    CfnParameterOverridesType); an empty value must be quoted to be read at all.
    """
    return " ".join(f"{key}={_sam_value(value)}" for key, value in parameters.items())


def _sam_value(value: str) -> str:
    if value and not any(c in value for c in " \"'\\"):
        return value
    return '"' + value.replace('"', '\\"') + '"'
