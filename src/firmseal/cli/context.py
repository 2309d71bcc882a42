"""State shared by the commands of one CLI invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from firmseal.config import Settings, load_settings

if TYPE_CHECKING:
    from firmseal.service.workspace import Workspace


class AppContext:
    """Opens the workspace on first use and closes it when the command ends."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._workspace: Workspace | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            # Imported here because it loads SQLAlchemy, and commands that never open the
            # workspace (verify with a public key, --version) should not pay for that.
            from firmseal.service.workspace import Workspace

            self._workspace = Workspace.open(self.settings)
        return self._workspace

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()


pass_app = click.make_pass_decorator(AppContext, ensure=True)
