"""Two different signed user ids never share a profile, a session name or a User tag.

Over the whole path from what the IdP signs to what the spoke sees: the test
IdP signs the id, the validator returns it (or refuses it), and the names come
from the functions the broker uses (:func:`broker.profile_name.profile_name_for`,
:func:`broker.spokes.source_identity` for SourceIdentity and RoleSessionName,
:func:`broker.spokes.tag_value` for the User tag). For one id they are stable.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.config import IdpApplication, ServiceProvider
from broker.exceptions import NotAuthorised
from broker.local.idp import SamlIdentityProvider
from broker.profile_name import profile_name_for
from broker.saml import SamlValidator
from broker.spokes import source_identity, tag_value

ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/UFJPUEVSVElFUw"
ACS = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/saml/acs"
ENTITY = "urn:studio-broker:hub"
TEAM = "team1"

# What an XML 1.0 document can carry (the only ids an IdP can sign).
XML_CHARACTERS = st.characters(exclude_categories=("Cs",)).filter(
    lambda c: c in "\t\n\r" or "\x20" <= c <= "\ufffd" or c >= "\U00010000")
IDS = st.text(XML_CHARACTERS, min_size=1, max_size=80)
# Characters that look like nothing, or like a space, around or inside an id.
LOOKALIKES = st.sampled_from([" ", "\u00a0", "\u2003", "\u3000", "\n", "\t", "\r", "\u200b", "\u200d",
                              "\ufeff", "\u00ad", "\u2028", "\u202e"])


@st.composite
def variant_of(draw: st.DrawFn, base: str) -> str:
    """``base`` with a look-alike character before, after or inside it."""
    char, where = draw(LOOKALIKES), draw(st.integers(0, len(base)))
    return base[:where] + char + base[where:]


# Any two texts, and above all an id beside its whitespace variant, its case or an ASCII look.
PAIRS = st.one_of(
    st.tuples(IDS, IDS),
    IDS.flatmap(lambda base: st.tuples(st.just(base), variant_of(base))),
    IDS.map(lambda base: (base, base.upper())),
    st.tuples(st.just("alice"), st.sampled_from(["alice ", " alice", "alice\u00a0", "Alice", "\u0430lice",
                                                 "alice\n", "ali\u200bce", "alice@"])),
).filter(lambda pair: pair[0] != pair[1])


def names(user_id: str) -> dict[str, str]:
    """Everything that names the person in the spoke."""
    return {"profile": profile_name_for(user_id, TEAM), "source_identity": source_identity(user_id),
            "user_tag": tag_value(user_id)}


@pytest.fixture(scope="module")
def idp() -> SamlIdentityProvider:
    return SamlIdentityProvider.generate(ISSUER)


@pytest.fixture(scope="module")
def validator(idp: SamlIdentityProvider) -> SamlValidator:
    application = IdpApplication(name="app", issuer=ISSUER, certificates=(idp.cert_pem,),
                                 teams=frozenset({TEAM}))
    return SamlValidator(ServiceProvider(entity_id=ENTITY, acs_url=ACS), {ISSUER: application})


def signed_in_as(validator: SamlValidator, idp: SamlIdentityProvider, user_id: str) -> str | None:
    """The user id the broker goes on with after ``user_id`` was signed, or ``None`` if refused."""
    response = idp.build_response(user_id=user_id, team_id=TEAM, audience=ENTITY, acs_url=ACS)
    try:
        identity = validator.validate(idp.encode(response))
    except NotAuthorised as refusal:
        assert refusal.reason in ("user_attribute_padded", "user_attribute_invisible_character")
        return None
    assert identity.user_id == user_id  # exactly the signed text
    return identity.user_id


PIPELINE = settings(deadline=None, max_examples=150,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PIPELINE
@given(pair=PAIRS)
def test_two_different_signed_ids_never_share_a_name(
    validator: SamlValidator, idp: SamlIdentityProvider, pair: tuple[str, str]
) -> None:
    first, second = (signed_in_as(validator, idp, user) for user in pair)
    if first is None or second is None:
        return  # refused: it reaches nobody's profile
    a, b = names(first), names(second)
    assert [key for key in a if a[key] == b[key]] == [], (pair, a, b)


@PIPELINE
@given(user=IDS)
def test_one_signed_id_always_gets_the_same_names(
    validator: SamlValidator, idp: SamlIdentityProvider, user: str
) -> None:
    first, again = signed_in_as(validator, idp, user), signed_in_as(validator, idp, user)
    assert first == again
    if first is not None:
        assert names(first) == names(user)


@given(pair=st.tuples(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
       .filter(lambda pair: pair[0] != pair[1]))
def test_the_naming_functions_are_injective_on_any_text(pair: tuple[str, str]) -> None:
    """Without the validator in front: no two texts share a name, even ones it would refuse."""
    a, b = names(pair[0]), names(pair[1])
    assert [key for key in a if a[key] == b[key]] == [], (pair, a, b)
