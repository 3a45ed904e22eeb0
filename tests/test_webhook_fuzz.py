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

MAX_ID = 2**63 - 1

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


def _nested(depth: int, opener: str, closed: bool) -> bytes:
    closer = "]" if opener == "[" else "}"
    return (opener * depth + ("1" + closer * depth if closed else "")).encode()


# JSON that Python's own parser chokes on, or reads in a way no trigger means: nesting far past any
# trigger's body (and past the interpreter's recursion limit), numbers past 64 bits or past a float,
# a key given twice, NaN and Infinity, bytes that are not UTF-8.
deeply_nested = st.one_of(  # within the body cap of 256 KiB
    st.builds(_nested, st.integers(33, 120_000), st.just("["), st.booleans()),
    st.builds(_nested, st.integers(33, 40_000), st.just('{"a":'), st.booleans()),
)
huge_numbers = st.one_of(
    st.integers(min_value=MAX_ID + 1).map(lambda n: f'{{"ticket_id": {n}}}'.encode()),
    st.integers(21, 5000).map(lambda digits: ('{"ticket_id": 42, "n": ' + "9" * digits + "}").encode()),
    st.sampled_from(
        [b'{"ticket_id": 1e400}', b'{"ticket_id": 42, "n": -1e999}', b'{"ticket_id": "99999999999999999999"}']
    ),
)
duplicate_keys = st.integers(1, 10**6).map(lambda n: f'{{"ticket_id": {n}, "ticket_id": {n + 1}}}'.encode())
constants = st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(lambda c: f'{{"ticket_id": 42, "x": {c}}}'.encode())
not_utf8 = st.binary(min_size=1, max_size=60).map(lambda raw: b'{"ticket_id": 42, "x": "\xff' + raw + b'"}')
pathological = st.one_of(deeply_nested, huge_numbers, duplicate_keys, constants, not_utf8)

bodies = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=500).map(str.encode),
    pathological,
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
    roomy_client: FlaskClient, queued: list[int], body: bytes, headers: dict[str, str]
) -> None:
    response = roomy_client.post("/webhooks/zendesk", data=body, headers=headers)
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
@given(body=pathological)
def test_signed_pathological_json_gets_400_with_a_json_error_and_is_never_queued(
    roomy_client: FlaskClient, queued: list[int], body: bytes
) -> None:
    response = roomy_client.post("/webhooks/zendesk", data=body, headers=signed_headers(body))
    assert response.status_code == 400, body[:80] + b"..." + body[-20:]
    assert response.get_json()["error"] in ("invalid_json", "invalid_ticket_id")
    assert queued == []


@fuzz
@given(ticket_id=st.one_of(st.integers(), st.text(max_size=24), st.none(), st.booleans(), st.floats()))
def test_only_a_positive_whole_64_bit_ticket_id_is_queued(
    client: FlaskClient, queued: list[int], ticket_id: object
) -> None:
    queued.clear()
    body = json.dumps({"ticket_id": ticket_id}).encode()
    response = client.post("/webhooks/zendesk", data=body, headers=signed_headers(body))
    digits = isinstance(ticket_id, str) and re.fullmatch(r"\s*[0-9]{1,20}\s*", ticket_id) is not None
    number = int(str(ticket_id)) if digits else ticket_id
    valid = isinstance(number, int) and not isinstance(number, bool) and 0 < number <= MAX_ID
    assert response.status_code == (202 if valid else 400)
    assert SECRET not in response.get_data(as_text=True)
