"""Property tests: the SigV4 parser and verifier raise only AWS errors on any input."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from firmseal.api.errors import STATUS, ApiError
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
