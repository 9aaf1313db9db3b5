"""The functional landscape (hub, two spokes, signing IdPs, the real handler) with calls recorded."""

from __future__ import annotations

import pytest

from tests.functional.conftest import Landscape, landscape, signing_idps  # noqa: F401 - fixtures

from .calls import CallRecorder


@pytest.fixture
def recorder(landscape: Landscape) -> CallRecorder:  # noqa: F811 - the fixture imported above
    return CallRecorder().attach(landscape.clients)
