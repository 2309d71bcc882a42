"""Signing profiles: a platform plus versioned signing material and parameters."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import string
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firmseal.device.certificates import check_code_signing_usage, check_validity
from firmseal.device.keys import public_key_der
from firmseal.errors import ConflictError, InvalidInputError, NotFoundError
from firmseal.formats import FORMATS
from firmseal.formats.platforms import SigningPlatform, get_platform
from firmseal.kms.base import KeySpec
from firmseal.service.certificates import certificate_of, find_certificate
from firmseal.service.keys import check_enabled, find_key
from firmseal.service.names import CA_KEY_PREFIX, check_profile_name
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import KeyRecord, ProfileRecord, ProfileVersionRecord

log = logging.getLogger(__name__)

ACTIVE, CANCELED, REVOKED = "Active", "Canceled", "Revoked"
# AWS Signer's default signature validity period.
DEFAULT_VALIDITY = ("MONTHS", 135)
_VALIDITY = re.compile(r"^([1-9][0-9]{0,4})([DMY])$")
_VALIDITY_TYPES = {"D": "DAYS", "M": "MONTHS", "Y": "YEARS"}
_VERSION_ALPHABET = string.ascii_letters + string.digits
_MAX_VALIDITY_DAYS = 100 * 366


@dataclass(frozen=True)
class Validity:
    type: str
    value: int

    def expires(self, start: dt.datetime) -> dt.datetime:
        if self.type == "DAYS":
            return start + dt.timedelta(days=self.value)
        months = self.value * (12 if self.type == "YEARS" else 1)
        year, month = divmod(start.month - 1 + months, 12)
        target_year, target_month = start.year + year, month + 1
        # Clamp the day so 31 January plus one month is the last day of February.
        for day in (start.day, 30, 29, 28):
            try:
                return start.replace(year=target_year, month=target_month, day=day)
            except ValueError:
                continue
        raise AssertionError("unreachable: every month has a 28th day")


def parse_validity(text: str) -> Validity:
    """Parse `135M`, `30D` or `5Y` into a validity period."""
    match = _VALIDITY.match(text.strip().upper())
    if not match:
        raise InvalidInputError(
            f"invalid validity {text!r}; expected a number from 1 and a unit D, M or Y "
            "(e.g. 135M), at most 100 years"
        )
    validity = Validity(_VALIDITY_TYPES[match.group(2)], int(match.group(1)))
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    if validity.expires(start) - start > dt.timedelta(days=_MAX_VALIDITY_DAYS):
        raise InvalidInputError(f"invalid validity {text!r}; expected at most 100 years")
    return validity


MAX_PARAM_VALUE = 1024


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse KEY=VALUE signing parameters; a repeated key keeps the last value."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key):
            raise InvalidInputError(
                f"invalid signing parameter {pair[:80]!r}; expected KEY=VALUE with a key of "
                "letters, digits, '_', '.' and '-'"
            )
        if len(value) > MAX_PARAM_VALUE or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise InvalidInputError(
                f"invalid value for signing parameter {key}; expected at most "
                f"{MAX_PARAM_VALUE} characters and no control characters"
            )
        params[key] = value
    return params


def new_profile_version() -> str:
    return "".join(secrets.choice(_VERSION_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class ProfileView:
    """A profile with the material of its current version, as `profile show` reports it."""

    profile: ProfileRecord
    version: ProfileVersionRecord
    key: KeyRecord
    certificate_arn: str | None
    certificate_name: str | None

    @property
    def parameters(self) -> dict[str, str]:
        return dict(json.loads(self.version.parameters_json))


def find_profile(session: Session, name: str) -> ProfileRecord:
    record = session.get(ProfileRecord, name)
    if record is None:
        raise NotFoundError(
            f"signing profile {name!r} not found; list profiles with `firmseal profile list`"
        )
    return record


class ProfileService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def put(
        self,
        name: str,
        platform_id: str,
        key_name: str,
        *,
        certificate_name: str | None = None,
        validity: Validity | None = None,
        params: dict[str, str] | None = None,
    ) -> ProfileView:
        check_profile_name(name)
        platform = get_platform(platform_id)
        params = dict(params or {})
        _check_required_params(platform, params)
        _validate_params(platform, params)
        validity = validity or Validity(*DEFAULT_VALIDITY)
        now = self._ws.clock()
        version = new_profile_version()
        try:
            with transaction(self._ws.sessions) as session:
                existing = session.get(ProfileRecord, name)
                if existing is not None:
                    raise _name_taken(existing)
                key_id, certificate_id = self._material(
                    session, now, platform, key_name, certificate_name
                )
                session.add(
                    ProfileRecord(
                        name=name,
                        status=ACTIVE,
                        current_version=version,
                        platform_id=platform.platform_id,
                        created_at=now,
                        canceled_at=None,
                    )
                )
                session.flush()
                session.add(
                    _version_record(
                        name,
                        version,
                        key_id=key_id,
                        certificate_id=certificate_id,
                        validity=validity,
                        params=params,
                        now=now,
                    )
                )
        except IntegrityError:
            raise ConflictError(
                f"signing profile {name!r} already exists; profile names cannot be reused, "
                "choose another name"
            ) from None
        log.info("created signing profile %s version %s on %s", name, version, platform_id)
        return self.get(name)

    def rotate(self, name: str, key_name: str, certificate_name: str | None = None) -> ProfileView:
        """Move a profile to new signing material under a new version."""
        version = new_profile_version()
        with transaction(self._ws.sessions) as session:
            profile = find_profile(session, name)
            if profile.status != ACTIVE:
                raise ConflictError(f"signing profile {name!r} is {profile.status}; cannot rotate")
            current = session.get(ProfileVersionRecord, (name, profile.current_version))
            assert current is not None
            platform = get_platform(profile.platform_id)
            key_id, certificate_id = self._material(
                session, self._ws.clock(), platform, key_name, certificate_name
            )
            validity = Validity(current.validity_type, current.validity_value)
            params = json.loads(current.parameters_json)
            session.add(
                _version_record(
                    name,
                    version,
                    key_id=key_id,
                    certificate_id=certificate_id,
                    validity=validity,
                    params=params,
                    now=self._ws.clock(),
                )
            )
            profile.current_version = version
        log.info("rotated signing profile %s to version %s", name, version)
        return self.get(name)

    def cancel(self, name: str) -> ProfileView:
        with transaction(self._ws.sessions) as session:
            profile = find_profile(session, name)
            if profile.status != ACTIVE:
                raise ConflictError(f"signing profile {name!r} is already {profile.status}")
            profile.status = CANCELED
            profile.canceled_at = self._ws.clock()
        log.info("canceled signing profile %s", name)
        return self.get(name)

    def get(self, name: str, version: str | None = None) -> ProfileView:
        with self._ws.sessions() as session:
            profile = find_profile(session, name)
            record = session.get(ProfileVersionRecord, (name, version or profile.current_version))
            if record is None:
                raise NotFoundError(f"version {version!r} of signing profile {name!r} not found")
            key = session.get(KeyRecord, record.key_id)
            assert key is not None
            arn = certificate = None
            if record.certificate_id is not None:
                found = find_certificate(session, record.certificate_id)
                arn, certificate = found.arn, found.name
            return ProfileView(profile, record, key, arn, certificate)

    def list_all(self, include_canceled: bool = False) -> list[ProfileView]:
        with self._ws.sessions() as session:
            query = select(ProfileRecord.name).order_by(ProfileRecord.created_at)
            if not include_canceled:
                query = query.where(ProfileRecord.status == ACTIVE)
            names = list(session.scalars(query))
        return [self.get(name) for name in names]

    def versions(self, name: str) -> list[ProfileVersionRecord]:
        with self._ws.sessions() as session:
            find_profile(session, name)
            query = (
                select(ProfileVersionRecord)
                .where(ProfileVersionRecord.profile_name == name)
                .order_by(ProfileVersionRecord.created_at)
            )
            return list(session.scalars(query))

    @staticmethod
    def _material(
        session: Session,
        now: dt.datetime,
        platform: SigningPlatform,
        key_name: str,
        certificate_name: str | None,
    ) -> tuple[str, str | None]:
        """Check the key fits the platform and the certificate is for that key."""
        key = find_key(session, key_name)
        if key.alias.startswith(CA_KEY_PREFIX):
            raise InvalidInputError(
                f"key {key.alias!r} is a CA key, which only signs certificates; create a "
                "signing key with `firmseal key create`"
            )
        check_enabled(key)
        if KeySpec(key.spec) not in platform.key_specs:
            allowed = ", ".join(sorted(spec.value for spec in platform.key_specs))
            raise InvalidInputError(
                f"key {key.alias!r} is {key.spec}, which platform {platform.platform_id} does "
                f"not allow; use a key of spec {allowed}"
            )
        if certificate_name is None:
            return key.key_id, None
        record = find_certificate(session, certificate_name)
        certificate = certificate_of(record)
        if public_key_der(certificate.public_key()) != key.public_key_der:
            raise InvalidInputError(
                f"certificate {record.name!r} is not for key {key.alias!r}; issue one with "
                f"`firmseal cert issue NAME --ca CA --key {key.alias} --subject DN`"
            )
        check_code_signing_usage(certificate)
        check_validity(certificate, now)
        return key.key_id, record.certificate_id


def _check_required_params(platform: SigningPlatform, params: dict[str, str]) -> None:
    missing = [name for name in platform.required_params if not params.get(name)]
    if missing:
        raise InvalidInputError(
            f"platform {platform.platform_id} needs signing parameter {missing[0]}; "
            f"set it with --param {missing[0]}=VALUE"
        )


def _validate_params(platform: SigningPlatform, params: dict[str, str]) -> None:
    validate = getattr(FORMATS[platform.format_name], "validate_params", None)
    if validate is not None:
        validate(params)


def _name_taken(existing: ProfileRecord) -> ConflictError:
    if existing.status == ACTIVE:
        return ConflictError(
            f"signing profile {existing.name!r} already exists and is Active; choose another name"
        )
    return ConflictError(
        f"signing profile name {existing.name!r} is already taken (status {existing.status}); "
        "profile names cannot be reused, even after cancellation, so choose another name"
    )


def _version_record(
    name: str,
    version: str,
    *,
    key_id: str,
    certificate_id: str | None,
    validity: Validity,
    params: dict[str, str],
    now: dt.datetime,
) -> ProfileVersionRecord:
    return ProfileVersionRecord(
        profile_name=name,
        version=version,
        key_id=key_id,
        certificate_id=certificate_id,
        validity_value=validity.value,
        validity_type=validity.type,
        parameters_json=json.dumps(params, sort_keys=True),
        created_at=now,
    )
