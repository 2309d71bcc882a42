"""Settings read from the environment, with defaults that need no server or cloud account."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from firmseal.errors import InvalidInputError

DEFAULT_REGION = "us-east-1"
# The account id that ARNs carry when none is configured: the example id of AWS's
# documentation, so a reader does not mistake it for a real account.
DEFAULT_ACCOUNT_ID = "123456789012"
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_PARTITION = re.compile(r"^aws(-[a-z]+)*$")


@dataclass(frozen=True)
class Settings:
    """The workspace location and the partition, region and account its ARNs carry."""

    home: Path
    database_url: str
    master_key_env: str | None
    partition: str = "aws"
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID

    @property
    def master_key_path(self) -> Path:
        return self.home / "master.key"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"


def _checked(value: str, pattern: re.Pattern[str], variable: str, example: str) -> str:
    if not pattern.match(value):
        raise InvalidInputError(f"invalid {variable}={value!r}; expected a value like {example}")
    return value


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read FIRMSEAL_* variables; unset ones fall back to the embedded defaults."""
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("FIRMSEAL_HOME") or platformdirs.user_data_path("firmseal"))
    home = home.expanduser().absolute()
    database_url = env.get("FIRMSEAL_DATABASE_URL") or f"sqlite:///{home / 'firmseal.db'}"
    return Settings(
        home=home,
        database_url=database_url,
        master_key_env=env.get("FIRMSEAL_MASTER_KEY") or None,
        partition=_checked(
            env.get("FIRMSEAL_PARTITION", "aws"), _PARTITION, "FIRMSEAL_PARTITION", "aws"
        ),
        region=_checked(
            env.get("FIRMSEAL_REGION", DEFAULT_REGION), _REGION, "FIRMSEAL_REGION", "us-east-1"
        ),
        account_id=_checked(
            env.get("FIRMSEAL_ACCOUNT_ID", DEFAULT_ACCOUNT_ID),
            _ACCOUNT,
            "FIRMSEAL_ACCOUNT_ID",
            "123456789012",
        ),
    )


def redact_url(url: str) -> str:
    """Return a database URL with any password replaced by ***, for printing."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
