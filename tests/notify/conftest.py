from __future__ import annotations

import pytest

from tests.notify.receiver import Receiver, start


@pytest.fixture
def receiver() -> Receiver:
    server, recorded = start()
    yield recorded
    server.shutdown()
    server.server_close()
