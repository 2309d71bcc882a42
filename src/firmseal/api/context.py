"""The arguments of an operation handler: the services of this process and the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmseal.api.errors import ApiError
from firmseal.config import Settings
from firmseal.objects.store import ObjectStore
from firmseal.service.principals import Principal
from firmseal.service.recorder import JobRecorder
from firmseal.service.workspace import Workspace


def _nothing() -> None:
    return None


@dataclass
class Services:
    """Handles shared by all requests of one server process."""

    workspace: Workspace
    objects: ObjectStore
    wake_workers: Callable[[], None] = field(default=_nothing)
    recorder: JobRecorder | None = None

    @property
    def settings(self) -> Settings:
        return self.workspace.settings


@dataclass(frozen=True)
class Call:
    services: Services
    principal: Principal
    params: dict[str, Any]

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def require_admin(self, operation: str) -> None:
        if not self.principal.admin:
            raise ApiError(
                "AccessDeniedException",
                f"principal {self.principal.name!r} is not allowed {operation}; it needs an "
                "admin principal (firmseal principal create NAME --admin)",
            )


Handler = Callable[[Call], "dict[str, Any] | None"]
