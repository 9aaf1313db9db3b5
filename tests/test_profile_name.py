from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.profile_name import MAX_TEAM_ID_LENGTH, profile_name_for

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TEAM_IDS = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)


def test_plain_user_id_is_kept_verbatim() -> None:
    assert profile_name_for("alice", "team1") == "team1--alice"
    assert profile_name_for("a1b2-c3", "team-one") == "team-one--a1b2-c3"


def test_email_is_sanitised_with_a_hash() -> None:
    name = profile_name_for("Alice.Smith@example.com", "team1")
    assert re.fullmatch(r"team1--alice-smith-example-com--[a-z2-7]{12}", name)


def test_is_deterministic() -> None:
    assert profile_name_for("bob@example.com", "t") == profile_name_for("bob@example.com", "t")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("alice", "Alice"),  # case differs: never the same profile
        ("a.b", "a-b"),  # sanitise to the same text
        ("a-b", "a--b"),
        ("x" * 80, "x" * 81),  # both truncated
        ("alice--abcdefghijkl", "alice@abcdefghijkl"),
        # whitespace and look-alike variants are other ids (the validator refuses most of them)
        ("alice", "alice "),
        ("alice", " alice"),
        ("alice", "alice\u00a0"),
        ("alice", "alice\n"),
        ("alice", "ali\u200bce"),
        ("alice", "\u0430lice"),  # Cyrillic a
        ("\ufb01", "fi"),  # one under NFKC
        ("e\u0301", "\u00e9"),  # one under NFC
    ],
)
def test_different_users_never_share_a_name(first: str, second: str) -> None:
    assert profile_name_for(first, "team1") != profile_name_for(second, "team1")


def test_team_separator_is_unambiguous() -> None:
    # team "a-b" + user "c" must differ from team "a" + user "b-c"
    assert profile_name_for("c", "a-b") != profile_name_for("b-c", "a")


def test_long_user_id_fits_63_characters() -> None:
    name = profile_name_for("u" * 500, "t" * MAX_TEAM_ID_LENGTH)
    assert len(name) <= 63 and SAGEMAKER_NAME.match(name)


def test_symbol_only_user_id_still_yields_a_name() -> None:
    assert SAGEMAKER_NAME.match(profile_name_for("@@@", "team1"))


@pytest.mark.parametrize("team", ["Team1", "a--b", "-a", "", "t" * (MAX_TEAM_ID_LENGTH + 1)])
def test_rejects_team_ids_that_cannot_form_names(team: str) -> None:
    with pytest.raises(ValueError):
        profile_name_for("alice", team)


def test_rejects_empty_user() -> None:
    with pytest.raises(ValueError, match="empty"):
        profile_name_for("", "team1")


@given(user=st.text(min_size=1, max_size=300), team=TEAM_IDS)
def test_any_user_yields_a_valid_name(user: str, team: str) -> None:
    name = profile_name_for(user, team)
    assert SAGEMAKER_NAME.match(name) and len(name) <= 63
    assert name.startswith(team + "--")


@given(users=st.lists(st.text(min_size=1, max_size=90), min_size=2, max_size=2, unique=True))
def test_distinct_users_get_distinct_names(users: list[str]) -> None:
    assert profile_name_for(users[0], "team1") != profile_name_for(users[1], "team1")
