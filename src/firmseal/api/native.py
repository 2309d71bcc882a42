"""firmseal's native endpoints, described by the OpenAPI document at /openapi.json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy import text

from firmseal import __version__
from firmseal.formats.platforms import PLATFORMS
from firmseal.service.workspace import Workspace


class Health(BaseModel):
    status: str
    database: str


class Version(BaseModel):
    version: str
    region: str
    accountId: str  # noqa: N815 - the AWS field name


class Ping(BaseModel):
    pong: bool


class Problem(BaseModel):
    detail: str


def native_router(workspace: Callable[[], Workspace]) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", response_model=Health, responses={503: {"model": Problem}})
    def healthz() -> Health:
        """Report whether the server can reach its database."""
        try:
            with workspace().engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            raise HTTPException(
                503, "database is unreachable; check FIRMSEAL_DATABASE_URL"
            ) from exc
        return Health(status="ok", database="ok")

    @router.get("/native/v1/ping", response_model=Ping)
    def ping() -> Ping:
        """Return at once; the baseline the benchmark compares SignPayload with."""
        return Ping(pong=True)

    @router.get("/native/v1/version", response_model=Version)
    def version() -> Version:
        settings = workspace().settings
        return Version(version=__version__, region=settings.region, accountId=settings.account_id)

    @router.get("/native/v1/platforms", response_model=list[dict[str, Any]])
    def platforms() -> list[dict[str, Any]]:
        """List signing platforms as GetSigningPlatform returns them."""
        return [platform.to_aws() for platform in PLATFORMS.values()]

    @router.get(
        "/native/v1/platforms/{platform_id}",
        response_model=dict[str, Any],
        responses={404: {"model": Problem}},
    )
    def platform(platform_id: str) -> dict[str, Any]:
        found = PLATFORMS.get(platform_id)
        if found is None:
            raise HTTPException(404, f"signing platform {platform_id!r} not found")
        return found.to_aws()

    return router
