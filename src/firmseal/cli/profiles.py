"""`firmseal platform ...` and `firmseal profile ...`."""

from __future__ import annotations

import click

from firmseal.cli.context import AppContext, pass_app
from firmseal.cli.output import emit, emit_table, json_option
from firmseal.cli.records import profile_dict
from firmseal.formats.platforms import PLATFORMS, get_platform
from firmseal.service.profiles import ProfileService, parse_params, parse_validity


@click.group("platform")
def platform_group() -> None:
    """Signing platforms: what each signs and how."""


@platform_group.command("list")
@json_option
def platform_list(as_json: bool) -> None:
    """List signing platforms with the fields AWS Signer returns."""
    rows = [platform.to_aws() for platform in PLATFORMS.values()]
    columns = ["platformId", "displayName", "partner", "target", "maxSizeInMB"]
    emit_table(rows, columns, as_json, "platforms")


@platform_group.command("show")
@click.argument("platform_id")
@json_option
def platform_show(platform_id: str, as_json: bool) -> None:
    """Show one signing platform."""
    emit(get_platform(platform_id).to_aws(), as_json)


@click.group("profile")
def profile_group() -> None:
    """Signing profiles: a platform, a key and certificate, a validity and parameters."""


param_option = click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", help="Signing parameter (repeatable)."
)


@profile_group.command("put")
@click.argument("name")
@click.option("--platform", "platform_id", required=True, help="Signing platform id.")
@click.option("--key", "key_name", required=True, help="Alias of the signing key.")
@click.option("--certificate", help="Name or ARN of the key's code-signing certificate.")
@click.option(
    "--validity", default="135M", show_default=True, help="Signature validity: N D, M or Y."
)
@param_option
@json_option
@pass_app
def profile_put(
    app: AppContext,
    name: str,
    platform_id: str,
    key_name: str,
    certificate: str | None,
    validity: str,
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a signing profile. Names are never reused, even after cancellation."""
    view = ProfileService(app.workspace).put(
        name,
        platform_id,
        key_name,
        certificate_name=certificate,
        validity=parse_validity(validity),
        params=parse_params(params),
    )
    emit(profile_dict(view), as_json)


@profile_group.command("list")
@click.option("--include-canceled", is_flag=True, help="Also list canceled profiles.")
@json_option
@pass_app
def profile_list(app: AppContext, include_canceled: bool, as_json: bool) -> None:
    """List signing profiles."""
    views = ProfileService(app.workspace).list_all(include_canceled)
    rows = [profile_dict(view) for view in views]
    columns = ["profileName", "profileVersion", "platformId", "status"]
    emit_table(rows, columns, as_json, "profiles")


@profile_group.command("show")
@click.argument("name")
@json_option
@pass_app
def profile_show(app: AppContext, name: str, as_json: bool) -> None:
    """Show a signing profile and its current version."""
    service = ProfileService(app.workspace)
    document = profile_dict(service.get(name))
    document["versions"] = [record.version for record in service.versions(name)]
    emit(document, as_json)


@profile_group.command("cancel")
@click.argument("name")
@json_option
@pass_app
def profile_cancel(app: AppContext, name: str, as_json: bool) -> None:
    """Cancel a profile: it signs nothing more, and its name stays taken."""
    emit(profile_dict(ProfileService(app.workspace).cancel(name)), as_json)


@profile_group.command("rotate")
@click.argument("name")
@click.option("--key", "key_name", required=True, help="Alias of the new signing key.")
@click.option("--certificate", help="Name or ARN of the new key's certificate.")
@json_option
@pass_app
def profile_rotate(
    app: AppContext, name: str, key_name: str, certificate: str | None, as_json: bool
) -> None:
    """Move a profile to new signing material under a new profile version."""
    emit(profile_dict(ProfileService(app.workspace).rotate(name, key_name, certificate)), as_json)
