"""Tags on signing profiles, addressed by the profile's ARN."""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from firmseal.errors import InvalidInputError
from firmseal.service.arns import parse_profile_arn, profile_arn
from firmseal.service.profiles import find_profile
from firmseal.service.workspace import Workspace
from firmseal.store.db import transaction
from firmseal.store.models import TagRecord

log = logging.getLogger(__name__)

# AWS Signer's limit on tags per resource (the TagMap shape allows 1 to 200 entries).
MAX_TAGS = 200


class TagService:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def tag(self, resource_arn: str, tags: dict[str, str]) -> None:
        """Add or overwrite tags on a signing profile."""
        with transaction(self._ws.sessions) as session:
            arn = self._resolve(session, resource_arn)
            current = self._tags(session, arn)
            if len(current | tags.keys()) > MAX_TAGS:
                raise InvalidInputError(
                    f"resource {resource_arn!r} would have more than {MAX_TAGS} tags; remove "
                    "some first"
                )
            for key, value in tags.items():
                record = session.get(TagRecord, (arn, key))
                if record is None:
                    session.add(TagRecord(resource_arn=arn, tag_key=key, tag_value=value))
                else:
                    record.tag_value = value
        log.info("tagged %s with %d tags", resource_arn, len(tags))

    def untag(self, resource_arn: str, keys: list[str]) -> None:
        with transaction(self._ws.sessions) as session:
            arn = self._resolve(session, resource_arn)
            session.execute(
                delete(TagRecord).where(TagRecord.resource_arn == arn, TagRecord.tag_key.in_(keys))
            )
        log.info("removed %d tag keys from %s", len(keys), resource_arn)

    def tags(self, resource_arn: str) -> dict[str, str]:
        with self._ws.sessions() as session:
            arn = self._resolve(session, resource_arn)
            return self._tags(session, arn)

    def _resolve(self, session: Session, resource_arn: str) -> str:
        """Check the ARN names an existing profile; return the profile's unversioned ARN."""
        parsed = parse_profile_arn(self._ws.settings, resource_arn)
        find_profile(session, parsed.name)
        return profile_arn(self._ws.settings, parsed.name)

    @staticmethod
    def _tags(session: Session, arn: str) -> dict[str, str]:
        rows = session.scalars(select(TagRecord).where(TagRecord.resource_arn == arn))
        return {row.tag_key: row.tag_value for row in rows}
