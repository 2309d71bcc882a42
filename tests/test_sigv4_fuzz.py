"""Property tests: the SigV4 parser and verifier raise only AWS errors on any input."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from firmseal.api.errors import STATUS, ApiError
from firmseal.api.model import load_model
from firmseal.api.operations import HANDLERS
from firmseal.api.shapes import InputParser
from firmseal.api.sigv4 import SignedRequest, authenticate, parse_authorization
from firmseal.service.principals import Credentials, Principal

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
PRINCIPAL = Principal("p", "arn:aws:iam::123456789012:user/p", "FSAKAAAAAAAAAAAAAAAA", False)


def lookup(access_key_id: str) -> Credentials | None:
    if access_key_id == PRINCIPAL.access_key_id:
        return Credentials(PRINCIPAL, "secret")
    return None


authorization_text = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda cred, headers, sig: (
            f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={headers}, Signature={sig}"
        ),
        st.text(max_size=80),
        st.text(max_size=40),
        st.text(alphabet="0123456789abcdefg", max_size=70),
    ),
)


@settings(max_examples=300, deadline=None)
@given(authorization_text)
def test_parser_raises_only_api_errors(value: str) -> None:
    try:
        parse_authorization(value)
    except ApiError as exc:
        assert exc.code in STATUS
        assert exc.status == 403


@settings(max_examples=200, deadline=None)
@given(
    authorization=authorization_text,
    amz_date=st.one_of(st.just("20261204T120000Z"), st.text(max_size=20)),
    path=st.text(max_size=50),
    query=st.text(max_size=50),
    body=st.binary(max_size=100),
    extra=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=4),
)
def test_authenticate_raises_only_api_errors(
    authorization: str,
    amz_date: str,
    path: str,
    query: str,
    body: bytes,
    extra: list[tuple[str, str]],
) -> None:
    headers = [
        ("authorization", authorization),
        ("x-amz-date", amz_date),
        ("host", "127.0.0.1"),
        *extra,
    ]
    request = SignedRequest("POST", "127.0.0.1", "/" + path, query, headers, body)
    try:
        authenticate(request, lookup, "us-east-1", NOW)
    except ApiError as exc:
        assert exc.status == 403
    else:
        raise AssertionError("a random request was accepted")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    operation_name=st.sampled_from(sorted(HANDLERS)),
    body=st.one_of(st.binary(max_size=60), json_values.map(lambda v: json.dumps(v).encode())),
    query=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=4),
    uri=st.text(max_size=70),
)
def test_input_parser_raises_only_validation_errors(
    operation_name: str, body: bytes, query: list[tuple[str, str]], uri: str
) -> None:
    model = load_model()
    operation = model.operations[operation_name]
    names = [s.strip("{}+") for s in operation.segments if s.startswith("{")]
    try:
        InputParser(model.shapes).parse(operation, dict.fromkeys(names, uri), query, body)
    except ApiError as exc:
        assert exc.status == 400
