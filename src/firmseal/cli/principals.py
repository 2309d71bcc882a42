"""`firmseal principal ...`: API callers and their SigV4 access keys."""

from __future__ import annotations

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit, emit_table, json_option
from firmseal.service.principals import PrincipalService


@click.group("principal")
def principal_group() -> None:
    """API principals: access keys for SigV4-signed requests."""


@principal_group.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Allow every operation, on every profile.")
@json_option
@pass_app
def principal_create(app: AppContext, name: str, admin: bool, as_json: bool) -> None:
    """Create a principal and print its access key id and secret, once."""
    credentials = PrincipalService(app.workspace).create(name, admin=admin)
    principal = credentials.principal
    document = {
        "Name": principal.name,
        "Arn": principal.arn,
        "Admin": principal.admin,
        "AccessKeyId": principal.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
    }
    emit(document, as_json)
    if not as_json:
        click.echo("store the secret access key now; firmseal cannot show it again", err=True)


@principal_group.command("delete")
@click.argument("name")
@json_option
@pass_app
def principal_delete(app: AppContext, name: str, as_json: bool) -> None:
    """Delete principal NAME; its access key stops working at once.

    Permission statements that name it stay until removed with RemoveProfilePermission.
    """
    principal = PrincipalService(app.workspace).delete(name)
    document = {"Name": principal.name, "AccessKeyId": principal.access_key_id}
    if as_json:
        emit(document, as_json=True)
    else:
        click.echo(f"deleted principal {principal.name} (access key {principal.access_key_id})")


@principal_group.command("rotate")
@click.argument("name")
@json_option
@pass_app
def principal_rotate(app: AppContext, name: str, as_json: bool) -> None:
    """Give principal NAME a new access key and print it, once; the old key stops working."""
    credentials = PrincipalService(app.workspace).rotate(name)
    principal = credentials.principal
    document = {
        "Name": principal.name,
        "Arn": principal.arn,
        "Admin": principal.admin,
        "AccessKeyId": principal.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
    }
    emit(document, as_json)
    if not as_json:
        click.echo("store the secret access key now; firmseal cannot show it again", err=True)


@principal_group.command("list")
@json_option
@pass_app
def principal_list(app: AppContext, as_json: bool) -> None:
    """List principals (never their secrets)."""
    rows = [
        {"Name": p.name, "Arn": p.arn, "Admin": p.admin, "AccessKeyId": p.access_key_id}
        for p in PrincipalService(app.workspace).list_all()
    ]
    emit_table(rows, ["Name", "AccessKeyId", "Admin", "Arn"], as_json, "principals")
