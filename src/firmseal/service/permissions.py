"""Permission statements on signing profiles, with revisionId for optimistic concurrency.

Every change moves the profile's `policy_revision_id` with a conditional UPDATE that names
the revision the caller read. Two writers that read the same revision cannot both succeed,
in one process or many, because the database applies the second UPDATE to no row.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from firmseal.errors import AccessDeniedError, ConflictError, InvalidInputError, NotFoundError
from firmseal.service.principals import Principal
from firmseal.service.profiles import find_profile
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import PermissionRecord, ProfileRecord, ProfileVersionRecord

log = logging.getLogger(__name__)

START_SIGNING_JOB = "signer:StartSigningJob"
SIGN_PAYLOAD = "signer:SignPayload"
REVOKE_SIGNATURE = "signer:RevokeSignature"
GET_SIGNING_PROFILE = "signer:GetSigningProfile"
ACTIONS = (START_SIGNING_JOB, SIGN_PAYLOAD, REVOKE_SIGNATURE, GET_SIGNING_PROFILE)
MAX_STATEMENTS_PER_PROFILE = 100
MAX_STATEMENT_ID = 128
MAX_PRINCIPAL = 2048


class LimitExceededError(ConflictError):
    """A profile already has the maximum number of permission statements."""


@dataclass(frozen=True)
class Statement:
    statement_id: str
    action: str
    principal: str
    profile_version: str | None


@dataclass(frozen=True)
class Policy:
    revision_id: str | None
    statements: list[Statement]


def _check_statement(statement: Statement) -> None:
    if statement.action not in ACTIONS:
        raise InvalidInputError(
            f"invalid action {statement.action!r}; expected one of {', '.join(ACTIONS)}"
        )
    if not 1 <= len(statement.statement_id) <= MAX_STATEMENT_ID:
        raise InvalidInputError(f"statementId must be 1 to {MAX_STATEMENT_ID} characters")
    if not 1 <= len(statement.principal) <= MAX_PRINCIPAL:
        raise InvalidInputError(f"principal must be 1 to {MAX_PRINCIPAL} characters")


def _move_revision(session: Session, name: str, expected: str | None) -> str:
    """Set a new revision id if the stored one is still `expected`; raise ConflictError if not."""
    new_revision = str(uuid.uuid4())
    current = ProfileRecord.policy_revision_id
    condition = current.is_(None) if expected is None else current == expected
    result = session.execute(
        update(ProfileRecord)
        .where(ProfileRecord.name == name, condition)
        .values(policy_revision_id=new_revision)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"the permissions of signing profile {name!r} changed since revision "
            f"{expected!r}; list them again and retry with the current revisionId"
        )
    return new_revision


def principal_names(principal: Principal, account_id: str) -> list[str]:
    """Return the statement principals that name this caller: itself, its account or "*"."""
    return [principal.name, principal.arn, account_id, "*"]


def _check_version_exists(session: Session, profile_name: str, version: str | None) -> None:
    if version is None:
        return
    if session.get(ProfileVersionRecord, (profile_name, version)) is None:
        raise NotFoundError(
            f"version {version!r} of signing profile {profile_name!r} not found; "
            "GetSigningProfile returns the current profileVersion"
        )


def grants(statement: Statement, principal: Principal, account_id: str) -> bool:
    """Return whether a statement's principal names this caller, its account, or everyone."""
    return statement.principal in principal_names(principal, account_id)


class PermissionService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def add(self, profile_name: str, statement: Statement, revision_id: str | None) -> str:
        """Add a statement; a stale `revision_id` raises ConflictError. Return the new one."""
        _check_statement(statement)
        try:
            with transaction(self._ws.sessions) as session:
                profile = find_profile(session, profile_name)
                if revision_id is not None and revision_id != profile.policy_revision_id:
                    raise ConflictError(
                        f"revisionId {revision_id!r} is stale; the permissions of profile "
                        f"{profile_name!r} are at {profile.policy_revision_id!r}"
                    )
                self._check_new_statement(session, profile_name, statement)
                _check_version_exists(session, profile_name, statement.profile_version)
                new_revision = _move_revision(session, profile_name, profile.policy_revision_id)
                session.add(
                    PermissionRecord(
                        profile_name=profile_name,
                        statement_id=statement.statement_id,
                        action=statement.action,
                        principal=statement.principal,
                        profile_version=statement.profile_version,
                        created_at=self._ws.clock(),
                    )
                )
        except IntegrityError:
            raise ConflictError(
                f"statement {statement.statement_id!r} already exists on profile {profile_name!r}"
            ) from None
        log.info("added statement %s to profile %s", statement.statement_id, profile_name)
        return new_revision

    def remove(self, profile_name: str, statement_id: str, revision_id: str) -> str:
        """Remove a statement if `revision_id` is current; return the new revision id."""
        with transaction(self._ws.sessions) as session:
            profile = find_profile(session, profile_name)
            record = session.get(PermissionRecord, (profile_name, statement_id))
            if record is None:
                raise NotFoundError(
                    f"statement {statement_id!r} not found on signing profile {profile_name!r}"
                )
            if revision_id != profile.policy_revision_id:
                raise ConflictError(
                    f"revisionId {revision_id!r} is stale; the permissions of profile "
                    f"{profile_name!r} are at {profile.policy_revision_id!r}"
                )
            new_revision = _move_revision(session, profile_name, revision_id)
            session.delete(record)
        log.info("removed statement %s from profile %s", statement_id, profile_name)
        return new_revision

    def policy(self, profile_name: str) -> Policy:
        with self._ws.sessions() as session:
            profile = find_profile(session, profile_name)
            return Policy(profile.policy_revision_id, self._statements(session, profile_name))

    def authorize(
        self, principal: Principal, profile_name: str, version: str | None, action: str
    ) -> None:
        """Raise AccessDeniedError unless the caller is an admin or a statement grants it."""
        if principal.admin:
            return
        with self._ws.sessions() as session:
            statements = self._statements(session, profile_name)
        account = self._ws.settings.account_id
        for statement in statements:
            version_matches = statement.profile_version in (None, version)
            if (
                statement.action == action
                and version_matches
                and grants(statement, principal, account)
            ):
                return
        raise AccessDeniedError(
            f"principal {principal.name!r} is not allowed {action} on signing profile "
            f"{profile_name!r}; an admin can grant it with AddProfilePermission"
        )

    @staticmethod
    def _statements(session: Session, profile_name: str) -> list[Statement]:
        query = (
            select(PermissionRecord)
            .where(PermissionRecord.profile_name == profile_name)
            .order_by(PermissionRecord.statement_id)
        )
        return [
            Statement(row.statement_id, row.action, row.principal, row.profile_version)
            for row in session.scalars(query)
        ]

    @staticmethod
    def _check_new_statement(session: Session, profile_name: str, statement: Statement) -> None:
        if session.get(PermissionRecord, (profile_name, statement.statement_id)) is not None:
            raise ConflictError(
                f"statement {statement.statement_id!r} already exists on profile "
                f"{profile_name!r}; remove it first or choose another statementId"
            )
        count = len(PermissionService._statements(session, profile_name))
        if count >= MAX_STATEMENTS_PER_PROFILE:
            raise LimitExceededError(
                f"signing profile {profile_name!r} already has {count} permission statements, "
                f"the maximum; remove one first"
            )
