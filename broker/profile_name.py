"""Deterministic, collision-free SageMaker user profile names per (user, team).

SageMaker requires ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``. A name is
``<team>--<user>``; team ids never contain ``--`` (the routing schema forbids
it), so the first ``--`` always separates the team. The user part is the user id
itself when that is already a lower-case name without ``--``; any other user id
becomes ``<sanitised prefix>--<hash>``. The two forms cannot meet: a verbatim
user part never contains ``--``, a hashed one always does, and two different
user ids never share a hash in practice (60 bits of SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import re

MAX_LENGTH = 63
HASH_LENGTH = 12
# room for "--", a one-character prefix, "--" and the hash
MAX_TEAM_ID_LENGTH = MAX_LENGTH - 2 - 1 - 2 - HASH_LENGTH
_VERBATIM_USER = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_VALID_NAME = re.compile(r"^[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}$")
_VALID_TEAM = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def user_hash(user_id: str) -> str:
    """A short, name-safe digest of the exact user id."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:HASH_LENGTH]


def profile_name_for(user_id: str, team_id: str) -> str:
    """The user profile name of ``user_id`` in ``team_id``; always a valid SageMaker name."""
    if not _VALID_TEAM.match(team_id) or len(team_id) > MAX_TEAM_ID_LENGTH:
        raise ValueError(f"team id {team_id!r} cannot form profile names")
    if not user_id:
        raise ValueError("user id is empty")
    room = MAX_LENGTH - len(team_id) - 2
    if _VERBATIM_USER.match(user_id) and len(user_id) <= room:
        user_part = user_id
    else:
        prefix_room = room - 2 - HASH_LENGTH
        prefix = _NOT_NAME_CHARS.sub("-", user_id.lower())[:prefix_room].strip("-") or "u"
        user_part = f"{prefix}--{user_hash(user_id)}"
    name = f"{team_id}--{user_part}"
    assert _VALID_NAME.match(name), name  # guaranteed by construction; guards future edits
    return name

