"""Operator tools on the routing model: the account registry and the StackSets rollout."""
