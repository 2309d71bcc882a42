"""Name rules shared by the services, with the messages that explain them."""

from __future__ import annotations

import re

from firmseal.errors import InvalidInputError

# Patterns are applied with fullmatch, so a trailing newline never slips through.
PROFILE_NAME = re.compile(r"[a-zA-Z0-9_]{2,64}")
# Slash-separated segments, each starting with a letter or digit: no empty, "." or ".."
# segment, and no leading or trailing slash.
KEY_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")
KEY_ALIAS_MAX = 64
CERTIFICATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Aliases of CA keys: `firmseal ca create NAME` makes `ca/NAME`.
CA_KEY_PREFIX = "ca/"


def check_profile_name(name: str) -> str:
    if not PROFILE_NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid profile name {name!r}; use 2 to 64 letters, digits and underscores"
        )
    return name


def check_key_alias(alias: str) -> str:
    if len(alias) > KEY_ALIAS_MAX or not KEY_ALIAS.fullmatch(alias) or ".." in alias:
        raise InvalidInputError(
            f"invalid key alias {alias!r}; use 1 to 64 letters, digits, '_', '.', '-' and '/' "
            "between segments, each segment starting with a letter or digit"
        )
    return alias


def check_certificate_name(name: str) -> str:
    if not CERTIFICATE_NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid certificate name {name!r}; use 1 to 64 letters, digits, '_', '.' and "
            "'-', starting with a letter or digit"
        )
    return name


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInputError(
            f"invalid validity of {days} days; expected 1 to {MAX_DAYS} (100 years)"
        )
    return days


MAX_DAYS = 36500
