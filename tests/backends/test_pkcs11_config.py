"""Reading the pkcs11 backend's settings from the environment."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from firmseal.errors import InvalidInputError
from firmseal.kms.pkcs11_config import DEFAULT_MAX_SESSIONS, Pkcs11Config, is_configured

BASE = {"FIRMSEAL_PKCS11_MODULE": "/usr/lib/p11.so", "FIRMSEAL_PKCS11_TOKEN": "fw"}


def test_pin_from_variable() -> None:
    config = Pkcs11Config.from_env({**BASE, "FIRMSEAL_PKCS11_PIN": "4321-pin"})
    assert config.module_path == Path("/usr/lib/p11.so")
    assert config.token_label == "fw"
    assert config.pin.reveal() == "4321-pin"
    assert config.max_sessions == DEFAULT_MAX_SESSIONS
    assert "4321-pin" not in repr(config)


def test_pin_from_file(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("9876-pin\n")
    pin_file.chmod(0o600)
    config = Pkcs11Config.from_env({**BASE, "FIRMSEAL_PKCS11_PIN_FILE": str(pin_file)})
    assert config.pin.reveal() == "9876-pin"


def test_pin_file_readable_by_others_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("9876-pin")
    pin_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="firmseal.kms.pkcs11_config"):
        Pkcs11Config.from_env({**BASE, "FIRMSEAL_PKCS11_PIN_FILE": str(pin_file)})
    assert "chmod 600" in caplog.text
    assert "9876-pin" not in caplog.text


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FIRMSEAL_PKCS11_TOKEN": "fw", "FIRMSEAL_PKCS11_PIN": "1"}, "FIRMSEAL_PKCS11_MODULE"),
        ({"FIRMSEAL_PKCS11_MODULE": "/m.so", "FIRMSEAL_PKCS11_PIN": "1"}, "FIRMSEAL_PKCS11_TOKEN"),
        (BASE, "no PKCS#11 user PIN configured"),
        (
            {**BASE, "FIRMSEAL_PKCS11_PIN": "1", "FIRMSEAL_PKCS11_PIN_FILE": "/p"},
            "unset one of them",
        ),
        ({**BASE, "FIRMSEAL_PKCS11_PIN_FILE": "/nonexistent/pin"}, "cannot read the PIN file"),
        ({**BASE, "FIRMSEAL_PKCS11_PIN": "1", "FIRMSEAL_PKCS11_MAX_SESSIONS": "0"}, "1 to 64"),
        ({**BASE, "FIRMSEAL_PKCS11_PIN": "1", "FIRMSEAL_PKCS11_MAX_SESSIONS": "x"}, "1 to 64"),
    ],
)
def test_invalid_environment(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Pkcs11Config.from_env(environ)


def test_empty_pin_file_rejected(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("\n")
    pin_file.chmod(0o600)
    with pytest.raises(InvalidInputError, match="is empty"):
        Pkcs11Config.from_env({**BASE, "FIRMSEAL_PKCS11_PIN_FILE": str(pin_file)})


def test_max_sessions_read() -> None:
    environ = {**BASE, "FIRMSEAL_PKCS11_PIN": "1", "FIRMSEAL_PKCS11_MAX_SESSIONS": "12"}
    assert Pkcs11Config.from_env(environ).max_sessions == 12


def test_is_configured() -> None:
    assert is_configured(BASE) is True
    assert is_configured({}) is False
