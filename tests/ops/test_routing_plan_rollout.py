"""The plan's stack instances are what ``broker rollout apply`` really does, in the emulator.

For each case the base (registry and table) is rolled out first, then the plan
of base -> head is computed without AWS, then the head is rolled out: every
instance the apply creates, updates or deletes is in the plan, and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.aws import AwsClients
from broker.ops import rollout
from broker.ops.accounts import AccountRegistry, load_accounts
from broker.ops.routing_plan import empty_registry, load_table, plan_routing

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EDITS = FIXTURES / "routing_edits"
SHARED = FIXTURES / "routing_accounts"


def registry(directory: str | None) -> AccountRegistry:
    cwd = os.getcwd()
    os.chdir(FIXTURES)
    try:
        return load_accounts(f"routing_edits/accounts/{directory}" if directory else "routing_accounts")
    finally:
        os.chdir(cwd)


# (base table or None, base accounts, head table, head accounts)
CASES = {
    "first-rollout": (None, None, "base.yaml", None),
    "team-in-a-new-spoke-account": ("base.yaml", None, "add_team_new_spoke_account.yaml", "new_spoke"),
    "region-added": ("base.yaml", None, "add_region.yaml", "new_region"),
    "account-and-its-override-leave": ("add_team_new_account.yaml", "override_444", "account_leaves.yaml",
                                       "without_444"),
    "last-team-of-an-account-leaves": ("base.yaml", None, "remove_team.yaml", None),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_plan_lists_exactly_the_instances_the_rollout_changes(case: str, clients: AwsClients) -> None:
    base_table, base_accounts, head_table, head_accounts = CASES[case]
    head_registry = registry(head_accounts)
    old = load_table((EDITS / base_table).read_text(), base_table) if base_table else None
    new = load_table((EDITS / head_table).read_text(), head_table)
    if old is not None:
        old_registry = registry(base_accounts)
        assert rollout.apply(clients, old_registry, old, poll_seconds=0).ok
    else:  # nothing deployed yet: no registry on the base side either
        old_registry = empty_registry(head_registry, "base")

    plan = plan_routing(old, new, head_registry, old_registry=old_registry)
    summary = rollout.apply(clients, head_registry, new, poll_seconds=0)

    assert summary.ok, summary.failed
    applied = {(r.stack_set, r.account, r.region, r.action) for r in summary.changed}
    planned = {(s.stack_set, s.account, s.region, s.action) for s in plan.spokes or ()}
    assert planned == applied
    assert applied  # every case changes something
    assert not rollout.plan(clients, head_registry, new).changed
