"""One round trip on a warm sign-in: the replay write and the presign overlap, safely.

Through the real handler and the emulator. Latency is injected per AWS call on
the broker's own clients (a ``before-send`` hook that sleeps in the calling
thread, as a network wait does), and every call's start and end are recorded
(``provide-client-params`` / ``after-call``), so the tests assert on the order
of events, not on wall-clock thresholds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from broker import handler
from broker.aws import AwsClients
from broker.login import LoginService
from broker.wiring import BrokerSettings, build_login_service
from tests.functional.conftest import SPOKES, TABLE, Landscape, headers_of

TEAM1, _ = SPOKES
PUT, PRESIGN = "PutItem", "CreatePresignedDomainUrl"
REFERENCE = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"  # the recorded event's request id
LATENCY_SECONDS = 1.0  # above what a pool thread took to start on a loaded 2-core machine (up to ~0.5 s seen)


@dataclass
class CallTimes:
    """Start and end (``time.monotonic()``) of each AWS call the broker makes, by thread."""

    latency: dict[str, float] = field(default_factory=dict)
    calls: list[tuple[str, float, float, int]] = field(default_factory=list)
    _open: dict[tuple[int, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self._open[(threading.get_ident(), _operation(event_name))] = time.monotonic()

    def ended(self, event_name: str, **_: Any) -> None:
        operation, ended = _operation(event_name), time.monotonic()
        with self._lock:
            started = self._open.pop((threading.get_ident(), operation))
            self.calls.append((operation, started, ended, threading.get_ident()))

    def wait_on_the_wire(self, event_name: str, **_: Any) -> None:
        time.sleep(self.latency.get(_operation(event_name), 0.0))

    def one(self, operation: str) -> tuple[float, float, int]:
        (call,) = [c[1:] for c in self.calls if c[0] == operation]
        return call


def _operation(event_name: str) -> str:
    return event_name.rsplit(".", 1)[-1]


def record(clients: AwsClients, recorded: CallTimes) -> None:
    clients.register("provide-client-params", recorded.started)
    clients.register("after-call", recorded.ended)
    clients.register("after-call-error", recorded.ended)
    # First: ahead of the emulator's own before-send hook, which answers the request.
    clients.register("before-send", recorded.wait_on_the_wire, first=True)


@pytest.fixture
def times(landscape: Landscape) -> Iterator[CallTimes]:
    recorded = CallTimes()
    record(landscape.clients, recorded)
    yield recorded


def another_container(landscape: Landscape, times: CallTimes) -> LoginService:
    """A second Lambda container on the same table and spokes: its own caches and clients."""
    clients = AwsClients()
    record(clients, times)

    def count(event_name: str, **_: Any) -> None:
        landscape.calls[_operation(event_name)] += 1

    clients.register("provide-client-params", count)
    return build_login_service(
        landscape.routing, BrokerSettings(table_name=TABLE, table_region="us-east-1"), clients)


def fail_put_after(landscape: Landscape, seconds: float, code: str) -> None:
    """Answer the replay write with an AWS error after ``seconds`` (before the emulator sees it)."""

    class Http:
        status_code = 500

    def answer(**_: Any) -> tuple[Http, dict[str, Any]]:
        time.sleep(seconds)
        return Http(), {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}}

    landscape.clients.register("before-call.dynamodb.PutItem", answer, first=True)


def warm(landscape: Landscape, times: CallTimes, user: str = "user1") -> None:
    """A first sign-in, so that the next one in this container is warm; then forget its calls."""
    assert landscape.sign_in(user, "team1")["statusCode"] == 302
    landscape.calls.clear()
    times.calls.clear()


def refusal_reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(r, "reason", "") for r in caplog.records if r.getMessage() == "sign-in refused"]


def test_a_warm_sign_in_overlaps_the_replay_write_with_the_presign(
        landscape: Landscape, times: CallTimes) -> None:
    warm(landscape, times)
    times.latency.update({PUT: LATENCY_SECONDS, PRESIGN: LATENCY_SECONDS})

    response = landscape.sign_in("user1", "team1")

    assert response["statusCode"] == 302
    assert headers_of(response)["Location"].startswith(f"https://{landscape.domain_ids['team1']}.")
    assert dict(landscape.calls) == {PUT: 1, PRESIGN: 1}
    put_start, put_end, put_thread = times.one(PUT)
    presign_start, presign_end, presign_thread = times.one(PRESIGN)
    # Each started before the other ended: one round trip (about 1 x D), not two.
    assert put_start < presign_end and presign_start < put_end
    assert put_thread != presign_thread


@pytest.mark.parametrize("slower", [PUT, PRESIGN])
def test_a_replayed_assertion_never_gets_the_url(
        landscape: Landscape, times: CallTimes, caplog: pytest.LogCaptureFixture, slower: str) -> None:
    """The replay reaches another container where the person is warm: it presigns beside
    the replay write, and throws the URL away."""
    other = another_container(landscape, times)
    handler.use_login_service(other)
    warm(landscape, times)  # the person is known in the other container too
    handler.use_login_service(landscape.service)
    saml_response = landscape.saml_response("user1", "team1")
    assert landscape.post_acs(saml_response)["statusCode"] == 302
    landscape.calls.clear()
    times.calls.clear()
    caplog.clear()
    times.latency[slower] = LATENCY_SECONDS

    handler.use_login_service(other)
    replayed = landscape.post_acs(saml_response)

    assert replayed["statusCode"] == 401
    assert "already used" in replayed["body"]
    assert "Location" not in headers_of(replayed) and "token=" not in replayed["body"]
    assert refusal_reasons(caplog) == ["replay"]
    # The presign was made beside the write (the URL existed) and was thrown away.
    assert dict(landscape.calls) == {PUT: 1, PRESIGN: 1}
    _, put_end, _ = times.one(PUT)
    _, presign_end, _ = times.one(PRESIGN)
    assert (presign_end < put_end) == (slower == PUT)
    assert len(landscape.profiles(TEAM1)) == 1


def test_a_replay_in_the_container_that_saw_the_assertion_makes_no_presign(
        landscape: Landscape, times: CallTimes, caplog: pytest.LogCaptureFixture) -> None:
    saml_response = landscape.saml_response("user1", "team1")
    assert landscape.post_acs(saml_response)["statusCode"] == 302
    landscape.calls.clear()
    times.latency[PUT] = LATENCY_SECONDS  # room for a presign that must not come

    for _ in range(2):  # however often it is posted again
        replayed = landscape.post_acs(saml_response)
        assert replayed["statusCode"] == 401 and "already used" in replayed["body"]

    assert dict(landscape.calls) == {PUT: 2}


def test_a_table_failure_during_the_overlap_gives_the_error_page_and_no_url(
        landscape: Landscape, times: CallTimes, caplog: pytest.LogCaptureFixture) -> None:
    warm(landscape, times)
    fail_put_after(landscape, LATENCY_SECONDS, "InternalServerError")
    caplog.clear()

    response = landscape.sign_in("user1", "team1")

    assert response["statusCode"] == 503
    assert "temporarily unavailable" in response["body"]
    assert "Reference:" in response["body"] and REFERENCE in response["body"]
    assert "Location" not in headers_of(response) and "token=" not in response["body"]
    assert refusal_reasons(caplog) == ["replay_cache_unavailable:InternalServerError"]
    _, put_end, _ = times.one(PUT)
    _, presign_end, _ = times.one(PRESIGN)
    assert presign_end < put_end  # the URL was there before the write failed
    assert landscape.calls["CreateUserProfile"] == 0


def test_a_replay_on_a_cold_path_calls_nothing_in_the_spoke(
        landscape: Landscape, times: CallTimes, caplog: pytest.LogCaptureFixture) -> None:
    """A first sign-in waits for the replay write before it calls the spoke: a used assertion
    of a person without a profile makes no AssumeRole, describe, create or presign."""
    idp = landscape.idps["team1"]
    saml_response = landscape.saml_response("newcomer", "team1", assertion_id="_used-elsewhere")
    # Another container consumed this assertion a moment ago.
    landscape.service.replay.remember(idp.issuer, "_used-elsewhere", time.time() + 300)
    landscape.calls.clear()
    times.latency[PUT] = LATENCY_SECONDS  # room for a spoke call that must not come

    replayed = landscape.post_acs(saml_response)

    assert replayed["statusCode"] == 401
    assert "already used" in replayed["body"]
    assert "Location" not in headers_of(replayed)
    assert refusal_reasons(caplog) == ["replay"]
    assert dict(landscape.calls) == {PUT: 1}
    assert landscape.all_profiles() == []


def test_a_first_sign_in_writes_the_replay_entry_before_any_spoke_call(
        landscape: Landscape, times: CallTimes) -> None:
    times.latency[PUT] = LATENCY_SECONDS

    assert landscape.sign_in("user1", "team1")["statusCode"] == 302

    _, put_end, _ = times.one(PUT)
    spoke_calls = [start for operation, start, _, _ in times.calls if operation != PUT]
    assert spoke_calls and min(spoke_calls) > put_end
    assert landscape.calls["CreateUserProfile"] == 1


def test_a_profile_deleted_since_it_was_cached_is_made_again_after_the_write(
        landscape: Landscape, times: CallTimes) -> None:
    warm(landscape, times)
    sagemaker = landscape.spoke_client(TEAM1)
    sagemaker.delete_user_profile(DomainId=landscape.domain_ids["team1"], UserProfileName="team1--user1")

    response = landscape.sign_in("user1", "team1")

    assert response["statusCode"] == 302, response["body"]
    assert landscape.calls[PRESIGN] == 2 and landscape.calls["CreateUserProfile"] == 1
    _, put_end, _ = times.one(PUT)
    (create_start,) = [start for op, start, _, _ in times.calls if op == "CreateUserProfile"]
    assert create_start > put_end
