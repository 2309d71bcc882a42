"""The strict RFC 7512 `pkcs11:` URI parser and its canonical formatter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmseal.api.errors import from_domain
from firmseal.errors import InvalidInputError, NotFoundError
from firmseal.kms.pkcs11_uri import Pkcs11Uri, format_uri, parse_uri, redact_pin_values


def test_parse_rfc_example() -> None:
    # An example URI from RFC 7512 section 3.
    uri = parse_uri(
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
        "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;"
        "type=cert;id=%69%95%3E%5C%F4%BE%AA%13%AD%AF%E9%41%6D%FF%62%28%84%58"
    )
    assert uri.token == "The Software PKCS#11 Softtoken"
    assert uri.object == "my-certificate"
    assert uri.type == "cert"
    assert uri.id == bytes.fromhex("69953e5cf4beaa13adafe9416dff6228 8458".replace(" ", ""))
    assert uri.path == {"manufacturer": "Snake Oil, Inc.", "model": "1.0"}
    assert uri.query == {}


def test_parse_query_attributes() -> None:
    uri = parse_uri("pkcs11:object=k?module-path=/usr/lib/p11.so&pin-source=file:/run/pin")
    assert uri.object == "k"
    assert uri.query == {"module-path": "/usr/lib/p11.so", "pin-source": "file:/run/pin"}


def test_parse_empty_uri() -> None:
    assert parse_uri("pkcs11:") == Pkcs11Uri()


def test_scheme_case_insensitive() -> None:
    assert parse_uri("PKCS11:object=a").object == "a"


def test_attribute_value_may_contain_path_reserved() -> None:
    assert parse_uri("pkcs11:object=a&b:c@d").object == "a&b:c@d"


def test_id_keeps_raw_bytes() -> None:
    assert parse_uri("pkcs11:id=%00%FF%80").id == b"\x00\xff\x80"


def test_format_percent_encodes() -> None:
    uri = Pkcs11Uri(token="fw signing", object="key;1", id=b"\x01\xab", type="private")
    assert format_uri(uri) == "pkcs11:token=fw%20signing;object=key%3B1;id=%01%AB;type=private"


def test_format_sorts_extra_attributes() -> None:
    uri = Pkcs11Uri(object="k", path={"serial": "9", "model": "m"}, query={"module-name": "x"})
    assert format_uri(uri) == "pkcs11:object=k;model=m;serial=9?module-name=x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file:object=a", "must start with 'pkcs11:'"),
        ("pkcs11:object", "is not NAME=VALUE"),
        ("pkcs11:=value", "is not NAME=VALUE"),
        ("pkcs11:object=a;object=b", "'object' appears twice"),
        ("pkcs11:Object=a;object=b", "'object' appears twice"),
        ("pkcs11:colour=red", "unknown path attribute 'colour'"),
        ("pkcs11:object=a?colour=red", "unknown query attribute 'colour'"),
        ("pkcs11:object=a b", "must be percent-encoded"),
        ("pkcs11:object=a/b", "must be percent-encoded"),
        ("pkcs11:object=a%2", "not followed by two hex digits"),
        ("pkcs11:object=a%zz", "not followed by two hex digits"),
        ("pkcs11:object=%FF", "not valid UTF-8"),
        ("pkcs11:type=secret", "type='secret' is not one of"),
        ("pkcs11:slot-id=1a", "slot-id must be decimal digits"),
        ("pkcs11:library-version=v2", "library-version must look like"),
        ("pkcs11:object=a;;id=%01", "is not NAME=VALUE"),
    ],
)
def test_invalid_uri_rejected(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_uri(text)


def test_vendor_attributes_accepted() -> None:
    uri = parse_uri("pkcs11:object=a;x-vendor=1?x-other=2")
    assert uri.path == {"x-vendor": "1"}
    assert uri.query == {"x-other": "2"}


PIN_MESSAGE = (
    "PKCS#11 URI contains pin-value; firmseal does not accept PINs in key URIs. Remove it and "
    "set FIRMSEAL_PKCS11_PIN or FIRMSEAL_PKCS11_PIN_FILE instead"
)


@pytest.mark.parametrize(
    "text",
    [
        "pkcs11:object=a?pin-value=secret-1234",
        "pkcs11:object=legacy;pin-value=secret-1234",
        "pkcs11:PIN-VALUE=secret-1234;object=a",
        # Invalid in other ways too: the PIN check comes first, so no message repeats the URI.
        "pkcs11:object=a;object=b;pin-value=secret-1234",
        "pkcs11:object=a b;pin-value=secret-1234",
        "pkcs11:colour=red;pin-value=secret-1234",
        "pkcs11:object=a?colour=red&pin-value=secret-1234",
        "pkcs11:type=secret;pin-value=secret-1234",
    ],
)
def test_pin_value_rejected_without_echo(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_uri(text)
    assert str(caught.value) == PIN_MESSAGE
    assert "secret-1234" not in str(caught.value)


def test_redact_pin_values() -> None:
    text = "key 'pkcs11:object=a;pin-value=2468?x-a=1&PIN-VALUE=1357' not found"
    assert redact_pin_values(text) == (
        "key 'pkcs11:object=a;pin-value=REDACTED?x-a=1&PIN-VALUE=REDACTED' not found"
    )


def test_overlong_uri_rejected() -> None:
    with pytest.raises(InvalidInputError, match="maximum is 512"):
        parse_uri("pkcs11:object=" + "a" * 600)


def test_numeric_attributes_accepted() -> None:
    uri = parse_uri("pkcs11:slot-id=12;library-version=2.40")
    assert uri.path == {"slot-id": "12", "library-version": "2.40"}


@given(
    token=st.none() | st.text(max_size=20),
    label=st.none() | st.text(max_size=20),
    key_id=st.none() | st.binary(max_size=20),
)
def test_format_parse_round_trip(
    token: str | None, label: str | None, key_id: bytes | None
) -> None:
    uri = Pkcs11Uri(token=token, object=label, id=key_id, type="private")
    assert parse_uri(format_uri(uri)) == uri


def test_api_error_redacts_pin_value() -> None:
    error = NotFoundError("key 'pkcs11:object=a;pin-value=2468' not found")
    api_error = from_domain(error, frozenset({"ResourceNotFoundException"}))
    assert api_error.code == "ResourceNotFoundException"
    assert api_error.message == "key 'pkcs11:object=a;pin-value=REDACTED' not found"
