"""`firmseal key ...`: keys in the key store. No command exports a private key."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit, emit_table, json_option
from firmseal.cli.records import key_dict
from firmseal.fsutil import write_atomic
from firmseal.kms.base import KeySpec, KeyState
from firmseal.kms.registry import BACKEND_NAMES, LOCAL
from firmseal.service.keys import PUBLIC_KEY_FORMATS, KeyService, parse_spec, render_public_key

SPEC_CHOICES = [spec.value for spec in KeySpec]


@click.group("key")
def key_group() -> None:
    """Create and manage signing keys."""


@key_group.command("create")
@click.argument("alias")
@click.option("--spec", required=True, help=f"Key type: {', '.join(SPEC_CHOICES)}.")
@click.option(
    "--backend",
    "backend_name",
    type=click.Choice(BACKEND_NAMES),
    default=LOCAL,
    show_default=True,
    help="Where the key is generated: the local key store, a PKCS#11 token "
    "(FIRMSEAL_PKCS11_* variables) or AWS KMS (FIRMSEAL_KMS_REGION or AWS_REGION).",
)
@json_option
@pass_app
def create(app: AppContext, alias: str, spec: str, backend_name: str, as_json: bool) -> None:
    """Generate a key inside a key backend under ALIAS."""
    record = KeyService(app.workspace).create(alias, parse_spec(spec), backend_name)
    emit(key_dict(record), as_json)


@key_group.command("import-ref")
@click.argument("alias")
@click.argument("uri")
@click.option(
    "--allow-extractable",
    is_flag=True,
    help="Accept a PKCS#11 key whose private key can leave the token or was imported into "
    "it (CKA_EXTRACTABLE, CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE or CKA_ALWAYS_SENSITIVE); "
    "prints a warning on stderr.",
)
@json_option
@pass_app
def import_ref(
    app: AppContext, alias: str, uri: str, allow_extractable: bool, as_json: bool
) -> None:
    """Record an existing key under ALIAS by its URI, without copying the private key.

    URI is local:ID, an RFC 7512 pkcs11: URI (object= or id=), an AWS KMS key or alias ARN,
    or alias/NAME. An AWS KMS alias is resolved to its key ARN.
    """
    record, warnings = KeyService(app.workspace).import_ref(alias, uri, allow_extractable)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    emit(key_dict(record), as_json)


@key_group.command("list")
@json_option
@pass_app
def list_keys(app: AppContext, as_json: bool) -> None:
    """List keys."""
    rows = [key_dict(record) for record in KeyService(app.workspace).list_all()]
    emit_table(rows, ["alias", "keySpec", "keyState", "backend", "keyId"], as_json, "keys")


@key_group.command("show")
@click.argument("name")
@json_option
@pass_app
def show(app: AppContext, name: str, as_json: bool) -> None:
    """Show one key by alias, key id or URI."""
    emit(key_dict(KeyService(app.workspace).get(name)), as_json)


@key_group.command("disable")
@click.argument("name")
@json_option
@pass_app
def disable(app: AppContext, name: str, as_json: bool) -> None:
    """Disable a key: profiles that use it stop signing until it is enabled."""
    emit(key_dict(KeyService(app.workspace).set_state(name, KeyState.DISABLED)), as_json)


@key_group.command("enable")
@click.argument("name")
@json_option
@pass_app
def enable(app: AppContext, name: str, as_json: bool) -> None:
    """Enable a disabled key."""
    emit(key_dict(KeyService(app.workspace).set_state(name, KeyState.ENABLED)), as_json)


@key_group.command("public-key")
@click.argument("name")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(PUBLIC_KEY_FORMATS),
    default="pem",
    show_default=True,
    help=(
        "pem; der; c or rust: an array of the key as MCUboot embeds it (DER "
        "SubjectPublicKeyInfo, PKCS#1 for RSA); hash: a C array of the key hash in an MCUboot "
        "image's KEYHASH TLV (SHA-384 for P-384 keys, SHA-256 otherwise)."
    ),
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file, not stdout.")
@pass_app
def public_key(app: AppContext, name: str, output_format: str, out: str | None) -> None:
    """Print the public key of a key, to embed in firmware or a verifier."""
    data = render_public_key(KeyService(app.workspace).get(name), output_format)
    if out is not None:
        write_atomic(Path(out), data)
        return
    sys.stdout.buffer.write(data)
