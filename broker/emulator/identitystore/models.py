"""The Identity Store as moto has it, with memberships that follow their user and group.

moto 5.2.5 serves GetUserId (``userName`` and ``emails.value``), DescribeUser,
DescribeGroup, ListGroupMemberships(ForMember) and the create calls over the
server, but DeleteUser and DeleteGroup leave the memberships behind, so a
deleted person would still be listed as a member of their groups. In IAM
Identity Center a membership names a user and a group that exist; deleting
either removes it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from moto.identitystore import urls as moto_identitystore_urls
from moto.identitystore.models import IdentityStoreBackend


class ExtendedIdentityStoreBackend(IdentityStoreBackend):
    """moto's Identity Store whose deletions take their memberships with them."""

    @property
    def _url_module(self) -> ModuleType:
        # moto derives the urls module from the backend's module; the requests stay moto's.
        return moto_identitystore_urls

    def init_extension(self) -> None:
        """Nothing to add to moto's state (kept for :func:`broker.emulator.install`'s upgrade)."""

    def delete_user(self, identity_store_id: str, user_id: str) -> None:
        super().delete_user(identity_store_id, user_id)
        self._drop_memberships(identity_store_id, lambda m: m["MemberId"].get("UserId") == user_id)

    def delete_group(self, identity_store_id: str, group_id: str) -> None:
        super().delete_group(identity_store_id, group_id)
        self._drop_memberships(identity_store_id, lambda m: m["GroupId"] == group_id)

    def _drop_memberships(self, identity_store_id: str, matches: Any) -> None:
        store = self.identity_stores.get(identity_store_id)
        if store is None:
            return
        for membership_id, membership in list(store.group_memberships.items()):
            if matches(membership):
                del store.group_memberships[membership_id]
