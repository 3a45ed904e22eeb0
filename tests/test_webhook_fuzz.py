"""Fuzzing the webhook: whatever arrives, the answer is a 4xx (or 202 when truly signed), never a 5xx."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NOW, SECRET
from tests.test_webhook import signed_headers

header_names = st.sampled_from(
    [
        "Content-Type",
        "X-Zendesk-Webhook-Signature",
        "X-Zendesk-Webhook-Signature-Timestamp",
        "X-Zendesk-Webhook-Id",
        "X-Zendesk-Webhook-Invocation-Id",
        "Content-Encoding",
    ]
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
bodies = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=500).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=10,
    ).map(lambda value: json.dumps(value).encode()),
)
fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(body=bodies, headers=st.dictionaries(header_names, header_values, max_size=6))
def test_unsigned_input_never_gets_a_5xx_and_never_reaches_the_queue(
    client: FlaskClient, queued: list[int], body: bytes, headers: dict[str, str]
) -> None:
    response = client.post("/webhooks/zendesk", data=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert isinstance(response.get_json(), dict)
    assert queued == []


@fuzz
@given(body=bodies, skew=st.integers(min_value=-600, max_value=600))
def test_signed_input_is_accepted_only_when_it_names_a_ticket_and_never_gets_a_5xx(
    client: FlaskClient, queued: list[int], body: bytes, skew: int
) -> None:
    queued.clear()
    headers = signed_headers(body, at=NOW + timedelta(seconds=skew))
    response = client.post("/webhooks/zendesk", data=body, headers=headers)
    assert response.status_code in (202, 400, 401, 413)
    if response.status_code == 202:
        assert queued == [response.get_json()["ticket_id"]] and abs(skew) <= 300
    else:
        assert queued == []


@fuzz
@given(ticket_id=st.one_of(st.integers(), st.text(max_size=12), st.none(), st.booleans(), st.floats()))
def test_only_a_positive_whole_ticket_id_is_queued(client: FlaskClient, queued: list[int], ticket_id: object) -> None:
    queued.clear()
    body = json.dumps({"ticket_id": ticket_id}).encode()
    response = client.post("/webhooks/zendesk", data=body, headers=signed_headers(body))
    valid = (isinstance(ticket_id, int) and not isinstance(ticket_id, bool) and ticket_id > 0) or (
        isinstance(ticket_id, str) and re.fullmatch(r"\s*[0-9]+\s*", ticket_id) is not None and int(ticket_id) > 0
    )
    assert response.status_code == (202 if valid else 400)
    assert SECRET not in response.get_data(as_text=True)
