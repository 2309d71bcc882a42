"""Name rules shared by the services, with the messages that explain them."""

from __future__ import annotations

import re

from firmseal.errors import InvalidInputError

PROFILE_NAME = re.compile(r"^[a-zA-Z0-9_]{2,64}$")
KEY_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")
CERTIFICATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_profile_name(name: str) -> str:
    if not PROFILE_NAME.match(name):
        raise InvalidInputError(
            f"invalid profile name {name!r}; use 2 to 64 letters, digits and underscores"
        )
    return name


def check_key_alias(alias: str) -> str:
    if not KEY_ALIAS.match(alias):
        raise InvalidInputError(
            f"invalid key alias {alias!r}; use 1 to 64 letters, digits, '_', '.', '/' and '-', "
            "starting with a letter or digit"
        )
    return alias


def check_certificate_name(name: str) -> str:
    if not CERTIFICATE_NAME.match(name):
        raise InvalidInputError(
            f"invalid certificate name {name!r}; use 1 to 64 letters, digits, '_', '.' and "
            "'-', starting with a letter or digit"
        )
    return name
