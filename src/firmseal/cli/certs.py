"""`firmseal ca ...` and `firmseal cert ...`: a private CA and code-signing certificates."""

from __future__ import annotations

from pathlib import Path

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.keys import SPEC_CHOICES
from firmseal.cli.output import emit, emit_table, json_option
from firmseal.cli.records import certificate_dict
from firmseal.errors import InvalidInputError
from firmseal.kms.registry import BACKEND_NAMES, LOCAL
from firmseal.service.certificates import KIND_CA, CertificateService
from firmseal.service.keys import parse_spec

COLUMNS = ["name", "kind", "subject", "notAfter", "certificateArn"]


@click.group("ca")
def ca_group() -> None:
    """Manage a private certificate authority whose key lives in the key store."""


@ca_group.command("create")
@click.argument("name")
@click.option("--spec", required=True, help=f"CA key type: {', '.join(SPEC_CHOICES)}.")
@click.option("--subject", required=True, help="RFC 4514 name, e.g. 'CN=Acme Firmware CA,O=Acme'.")
@click.option("--days", type=int, default=3650, show_default=True, help="Validity in days.")
@click.option(
    "--backend",
    "backend_name",
    type=click.Choice(BACKEND_NAMES),
    default=LOCAL,
    show_default=True,
    help="Key backend that generates and stores the CA key.",
)
@json_option
@pass_app
def ca_create(
    app: AppContext,
    name: str,
    spec: str,
    subject: str,
    days: int,
    backend_name: str,
    as_json: bool,
) -> None:
    """Create a CA: a new key in a key backend and a self-signed certificate for it."""
    service = CertificateService(app.workspace)
    record = service.create_ca(name, parse_spec(spec), subject, days, backend_name)
    emit(certificate_dict(record), as_json)


@ca_group.command("list")
@json_option
@pass_app
def ca_list(app: AppContext, as_json: bool) -> None:
    """List CAs."""
    rows = [certificate_dict(r) for r in CertificateService(app.workspace).list_all(KIND_CA)]
    emit_table(rows, COLUMNS, as_json, "certificateAuthorities")


@ca_group.command("export")
@click.argument("name")
@pass_app
def ca_export(app: AppContext, name: str) -> None:
    """Print the CA certificate as PEM: the trust anchor to embed in devices."""
    click.echo(
        CertificateService(app.workspace).export_pem(name, chain=False, kind=KIND_CA), nl=False
    )


@click.group("cert")
def cert_group() -> None:
    """Code-signing certificates for keys in the key store."""


@cert_group.command("issue")
@click.argument("name")
@click.option("--ca", "ca_name", required=True, help="Name of the issuing CA.")
@click.option("--key", "key_name", required=True, help="Alias of the signing key to certify.")
@click.option("--subject", required=True, help="RFC 4514 name, e.g. 'CN=Acme Release Signing'.")
@click.option("--days", type=int, default=1095, show_default=True, help="Validity in days.")
@json_option
@pass_app
def cert_issue(
    app: AppContext, name: str, ca_name: str, key_name: str, subject: str, days: int, as_json: bool
) -> None:
    """Issue a code-signing certificate (EKU codeSigning) for a key."""
    record = CertificateService(app.workspace).issue(name, ca_name, key_name, subject, days)
    emit(certificate_dict(record), as_json)


@cert_group.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_name", required=True, help="Alias of the key the certificate is for.")
@json_option
@pass_app
def cert_import(app: AppContext, name: str, file: Path, key_name: str, as_json: bool) -> None:
    """Import an external certificate and its chain (PEM or DER) for a key."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read certificate file {file}: {exc.strerror}") from None
    record = CertificateService(app.workspace).import_chain(name, key_name, data, str(file))
    emit(certificate_dict(record), as_json)


@cert_group.command("list")
@json_option
@pass_app
def cert_list(app: AppContext, as_json: bool) -> None:
    """List code-signing certificates."""
    rows = [certificate_dict(r) for r in CertificateService(app.workspace).list_all("signing")]
    emit_table(rows, COLUMNS, as_json, "certificates")


@cert_group.command("show")
@click.argument("name")
@json_option
@pass_app
def cert_show(app: AppContext, name: str, as_json: bool) -> None:
    """Show one certificate by name or ARN."""
    emit(certificate_dict(CertificateService(app.workspace).get(name)), as_json)


@cert_group.command("export")
@click.argument("name")
@click.option("--chain", is_flag=True, help="Append the issuer chain after the certificate.")
@pass_app
def cert_export(app: AppContext, name: str, chain: bool) -> None:
    """Print a certificate as PEM."""
    click.echo(CertificateService(app.workspace).export_pem(name, chain=chain), nl=False)
