"""PrometheusClient without a network: a fake requests session."""

import pytest
import requests

from gates.core.errors import InfraError, InputError
from gates.deploy.prometheus import Auth, NoData, PrometheusClient


class FakeResponse:
    def __init__(self, status, body):
        self.status_code, self._body = status, body

    def json(self):
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class FakeSession:
    def __init__(self, answers):
        self.answers, self.calls = list(answers), []

    def get(self, url, params=None, headers=None, auth=None, timeout=None):
        self.calls.append(
            {"url": url, "params": params, "headers": headers, "auth": auth, "timeout": timeout}
        )
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def vector(*values, labels=None):
    return FakeResponse(
        200,
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": labels or {}, "value": [1700000000.0, str(v)]} for v in values],
            },
        },
    )


def client(answers, **kw):
    sleeps = []
    c = PrometheusClient(
        "http://127.0.0.1:9",
        session=FakeSession(answers),
        sleep=sleeps.append,
        auth=kw.pop("auth", Auth()),
        **kw,
    )
    return c, sleeps


def test_instant_value_and_timeout_passed():
    c, _ = client([vector(0.25)], timeout=2.5)
    assert c.value("up") == 0.25
    call = c.session.calls[0]
    assert (
        call["url"].endswith("/api/v1/query") and call["timeout"] == 2.5 and call["params"]["query"] == "up"
    )


def test_empty_result_is_no_data():
    c, _ = client([vector()])
    with pytest.raises(NoData):
        c.value("up")


def test_nan_only_is_no_data():
    c, _ = client([vector("NaN")])
    with pytest.raises(NoData, match="NaN"):
        c.value("x")


def test_retries_with_backoff_then_success():
    c, sleeps = client(
        [requests.exceptions.ConnectionError("x"), FakeResponse(503, {}), vector(1)], retries=3, backoff=0.5
    )
    assert c.value("up") == 1
    assert sleeps == [0.5, 1.0]


def test_unreachable_is_infra_error_after_bounded_attempts():
    c, sleeps = client([requests.exceptions.ConnectionError("x")] * 3, retries=2, backoff=0.1)
    with pytest.raises(InfraError, match="unreachable after 3 attempts"):
        c.value("up")
    assert len(c.session.calls) == 3 and len(sleeps) == 2


def test_timeout_retried_then_infra_error():
    c, _ = client([requests.exceptions.ReadTimeout()] * 2, retries=1)
    with pytest.raises(InfraError, match="timed out"):
        c.query("up")


def test_bad_query_is_input_error_not_retried():
    c, _ = client([FakeResponse(400, {"status": "error", "errorType": "bad_data", "error": "parse error"})])
    with pytest.raises(InputError, match="parse error"):
        c.query("sum(")
    assert len(c.session.calls) == 1


def test_range_query_points():
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[1, "0.1"], [2, "NaN"], [3, "0.3"]]}],
        },
    }
    c, _ = client([FakeResponse(200, body)])
    assert c.values("x", 0, 3, 1) == [(1.0, 0.1), (3.0, 0.3)]
    assert c.session.calls[0]["params"]["step"] == "1"


def test_multiple_series_is_input_error():
    c, _ = client([vector(1, 2)])
    with pytest.raises(InputError, match="2 series"):
        c.value("x")


def test_bearer_token_from_env():
    auth = Auth.from_env({"MLGATE_PROMETHEUS_TOKEN": "s3cret"})
    c, _ = client([vector(1)], auth=auth)
    c.value("x")
    assert c.session.calls[0]["headers"] == {"Authorization": "Bearer s3cret"}
    assert c.session.calls[0]["auth"] is None


def test_basic_auth_from_env():
    auth = Auth.from_env({"MLGATE_PROMETHEUS_USER": "u", "MLGATE_PROMETHEUS_PASSWORD": "p"})
    c, _ = client([vector(1)], auth=auth)
    c.value("x")
    assert c.session.calls[0]["auth"] == ("u", "p")


def test_user_without_password_is_input_error():
    with pytest.raises(InputError):
        Auth.from_env({"MLGATE_PROMETHEUS_USER": "u"})


def test_unauthorised_is_infra_error():
    c, _ = client([FakeResponse(401, {})])
    with pytest.raises(InfraError, match="401"):
        c.query("x")


def test_bad_url():
    with pytest.raises(InputError):
        PrometheusClient("localhost:9090")
