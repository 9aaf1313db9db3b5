"""Stack updates of resources under a template ``Condition``, as in AWS.

moto 5.2.5 never creates a resource whose Condition is false, but a stack
update that changes that resource's JSON (a parameter it uses changed) asks
the resource's model to update an original that does not exist (``None``).
CloudFormation instead creates the resource when its condition now holds,
and otherwise leaves it absent. This wraps moto's ``parse_and_update_resource``
to do the same. (A condition that turns false on update still leaves moto's
resource in place: the rollout tests do not need that direction.)
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing

_update = parsing.parse_and_update_resource


def _update_or_create(logical_id: str, resource_json: dict[str, Any], resources_map: Any,
                      account_id: str, region_name: str) -> Any:
    if resources_map._parsed_resources.get(logical_id) is None:
        # never made (its condition was false): forget the absence, and make it if the condition
        # holds now (ResourceMap's indexer creates a resource, or returns None for a false one)
        resources_map._parsed_resources.pop(logical_id, None)
        return resources_map[logical_id]
    return _update(logical_id, resource_json, resources_map, account_id=account_id,
                   region_name=region_name)


def install() -> None:
    """Idempotent: moto's ResourceMap.update looks the function up in its module on each call."""
    if parsing.parse_and_update_resource is not _update_or_create:
        parsing.parse_and_update_resource = _update_or_create
