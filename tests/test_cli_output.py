"""Output rules: --json prints one document and nothing else; the bar shows only on a terminal."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from conftest import Cli, Signed
from firmseal.cli import progress


def test_every_list_and_show_prints_json(fs: Cli, signed: Signed) -> None:
    job_id = fs.json("job", "list")["jobs"][0]["jobId"]
    commands = [
        ["key", "list"],
        ["key", "show", "release"],
        ["ca", "list"],
        ["cert", "list"],
        ["cert", "show", "release-cert"],
        ["platform", "list"],
        ["platform", "show", "AmazonFreeRTOS-Default"],
        ["profile", "list"],
        ["profile", "show", "wifi"],
        ["job", "list"],
        ["job", "show", job_id],
        ["init"],
    ]
    for command in commands:
        result = fs(*command, "--json")
        document = json.loads(result.stdout)
        assert isinstance(document, dict), command
        assert result.stderr == "", command


def test_certificate_arn_shape(fs: Cli, signed: Signed) -> None:
    arn = fs.json("cert", "show", "release-cert")["certificateArn"]
    prefix = "arn:aws:acm:us-east-1:123456789012:certificate/"
    assert arn.startswith(prefix)
    assert len(arn.removeprefix(prefix)) == 36


def test_progress_bar_only_on_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    big = progress.MIN_BYTES_FOR_BAR
    with progress.progress_bar("x", big, as_json=False) as advance:
        assert advance is progress._ignore
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress.progress_bar("x", big, as_json=True) as advance:
        assert advance is progress._ignore
    with progress.progress_bar("x", big - 1, as_json=False) as advance:
        assert advance is progress._ignore
    with progress.progress_bar("x", big, as_json=False) as advance:
        assert advance is not progress._ignore
        advance(big)


def test_region_and_account_configurable(
    fs: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRMSEAL_REGION", "eu-west-1")
    monkeypatch.setenv("FIRMSEAL_ACCOUNT_ID", "111122223333")
    fs("key", "create", "k", "--spec", "ECC_NIST_P256")
    fs("ca", "create", "c", "--spec", "ECC_NIST_P256", "--subject", "CN=C")
    arn = fs.json("ca", "list")["certificateAuthorities"][0]["certificateArn"]
    assert arn.startswith("arn:aws:acm:eu-west-1:111122223333:certificate/")
    monkeypatch.setenv("FIRMSEAL_ACCOUNT_ID", "12")
    result = fs("key", "list", expect=2)
    assert "invalid FIRMSEAL_ACCOUNT_ID='12'" in result.stderr
