"""One-query loading of a profile's current signing material, for the synchronous path."""

from __future__ import annotations

from sqlalchemy import and_, select

from firmseal.service.profiles import ProfileService, ProfileView
from firmseal.service.workspace import Workspace
from firmseal.store.models import (
    CertificateRecord,
    KeyRecord,
    ProfileRecord,
    ProfileVersionRecord,
)


def current_material(workspace: Workspace, name: str) -> ProfileView:
    """Return the profile with its current version, key and certificate in one round trip.

    Gives the same result as ProfileService.get(name), which runs when no row matches so
    the caller gets its not-found message.
    """
    query = (
        select(ProfileRecord, ProfileVersionRecord, KeyRecord, CertificateRecord)
        .join(
            ProfileVersionRecord,
            and_(
                ProfileVersionRecord.profile_name == ProfileRecord.name,
                ProfileVersionRecord.version == ProfileRecord.current_version,
            ),
        )
        .join(KeyRecord, KeyRecord.key_id == ProfileVersionRecord.key_id)
        .outerjoin(
            CertificateRecord,
            CertificateRecord.certificate_id == ProfileVersionRecord.certificate_id,
        )
        .where(ProfileRecord.name == name)
    )
    with workspace.sessions() as session:
        row = session.execute(query).first()
    if row is None:
        return ProfileService(workspace).get(name)
    profile, version, key, certificate = row
    if certificate is None:
        return ProfileView(profile, version, key, None, None)
    return ProfileView(profile, version, key, certificate.arn, certificate.name)
