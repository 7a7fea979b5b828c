"""Operating the store: encryption keys, API keys, staff accounts and their tenants, label export, the audit
log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mindrail.cli.common import DbOpt, KeyFileOpt, err, open_store

keys_app = typer.Typer(help="Encryption keys for the store.", no_args_is_help=True)
apikeys_app = typer.Typer(help="API keys for apps calling the gateway.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
users_app = typer.Typer(help="Staff accounts for the clinician console.", no_args_is_help=True)
staff_app = typer.Typer(help="Which tenants console staff see (docs/console.md).", no_args_is_help=True)
export_app = typer.Typer(help="Export data for other tools.", no_args_is_help=True)


@keys_app.command("init")
def keys_init(path: Annotated[Path, typer.Argument(help="Key-ring file to create.")]) -> None:
    """Create a key-ring file with one new AES-256 key (mode 0600)."""
    from mindrail.store import KeyRing

    if path.exists():
        err.print(f"[red]error:[/red] {path} exists; use `mindrail keys rotate`")
        raise typer.Exit(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    KeyRing.generate().save(path)
    err.print(f"wrote {path}")


@keys_app.command("add")
def keys_add(
    key_file: Annotated[Path, typer.Option("--key-file", envvar="MINDRAIL_KEY_FILE", help="Key-ring file.")] = Path(
        "var/keys.json"
    ),
) -> None:
    """Stage a new key in the ring without activating it. With several instances, give every instance this ring
    (restart them) before `mindrail keys rotate --to KEY`, so each opens what the others seal (docs/deployment.md)."""
    from mindrail.store import KeyRing

    old = KeyRing.load(key_file)
    ring = old.staged()
    ring.save(key_file)
    (new,) = set(ring.keys) - set(old.keys)
    err.print(f"staged key {new} (active: {ring.active})")


@keys_app.command("rotate")
def keys_rotate(
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: Annotated[Path, typer.Option("--key-file", envvar="MINDRAIL_KEY_FILE", help="Key-ring file.")] = Path(
        "var/keys.json"
    ),
    to: Annotated[
        str | None, typer.Option("--to", help="Activate this staged key (mindrail keys add) instead of a new one.")
    ] = None,
    retire: Annotated[bool, typer.Option(help="Drop old keys from the ring once everything is re-sealed.")] = True,
) -> None:
    """Make a key active (a new one, or the staged ``--to``), re-seal every stored value with it, then (by default)
    retire the old keys. Run it again after every instance has the new ring: it re-seals what instances still on
    the old active key sealed meanwhile."""
    from mindrail.store.crypto import KeyError_

    store = open_store(db, key_file)
    try:
        new = store.keys.activated(to) if to else store.keys.rotated()
    except KeyError_ as exc:
        err.print(f"[red]error:[/red] --to: {exc}")
        raise typer.Exit(2) from None
    new.save(key_file)  # saved first: if re-sealing stops half way, both keys are still in the ring
    n = store.rotate_keys(new)
    if retire:
        new.without_retired(keep=set()).save(key_file)
    err.print(f"re-sealed {n} values; active key {new.active}")


def _known_consent(version: str | None) -> str | None:
    """The version, if it is one the policy's consent text knows; else exit with the known ones."""
    from mindrail.policy.consent import default_consent

    known = default_consent().known_versions
    if version is not None and version not in known:
        err.print(f"unknown consent version {version!r}; known: {', '.join(sorted(known))}")
        raise typer.Exit(2)
    return version


ConsentOpt = Annotated[
    str | None,
    typer.Option(
        "--consent-attested",
        help="Consent text version (GET /v1/consent) that you attest every person using the app accepted. Requests "
        "on the key may then leave out the conversation (drop-in mode).",
    ),
]


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Argument(help="Who the key is for.")],
    consent_attested: ConsentOpt = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="Tenant whose conversations the key reaches (default: a new tenant named after the key's id). "
            "Give several keys the same tenant to let them share conversations, e.g. another key's id."
        ),
    ] = None,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Create an API key. It is printed once; only its hash is stored."""
    version = _known_consent(consent_attested)
    try:
        typer.echo(open_store(db, key_file).create_api_key(name, consent_version=version, tenant=tenant))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@apikeys_app.command("list")
def apikeys_list(db: DbOpt = "sqlite:///var/mindrail.db", key_file: KeyFileOpt = None) -> None:
    """Every key's id, name, tenant, attested consent and state (secrets are never stored)."""
    table = Table("id", "name", "tenant", "consent attested", "state")
    for k in open_store(db, key_file).api_keys():
        table.add_row(k["id"], k["name"], k["tenant"], k["consent_version"] or "-", "revoked" if k["revoked"] else "")
    Console(soft_wrap=True).print(table)


@apikeys_app.command("attest")
def apikeys_attest(
    key_id: Annotated[str, typer.Argument(help="The id part of mr_<id>_<secret>.")],
    consent_attested: ConsentOpt = None,
    clear: Annotated[bool, typer.Option(help="Withdraw the attestation: requests must name a conversation.")] = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Attest (or with --clear, stop attesting) consent for an existing key."""
    if clear == (consent_attested is not None):
        err.print("give exactly one of --consent-attested VERSION or --clear")
        raise typer.Exit(2)
    open_store(db, key_file).attest_api_key_consent(key_id, _known_consent(consent_attested))
    err.print(
        f"{key_id}: consent attested {consent_attested}" if consent_attested else f"{key_id}: attestation cleared"
    )


@apikeys_app.command("revoke")
def apikeys_revoke(
    key_id: Annotated[str, typer.Argument(help="The id part of mr_<id>_<secret>.")],
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    open_store(db, key_file).revoke_api_key(key_id)
    err.print(f"revoked {key_id}")


TenantsOpt = Annotated[
    list[str] | None, typer.Option("--tenant", help="A tenant they may see in the console (repeatable).")
]
AllTenantsOpt = Annotated[bool, typer.Option(help="They may see every tenant, present and future.")]


def _grant_list(tenant: list[str] | None, all_tenants: bool) -> list[str]:
    """The tenants named on the command line ("*" for --all-tenants); exits unless exactly one form is used."""
    from mindrail.store.tenancy import ALL

    if bool(tenant) == all_tenants:
        err.print("give --tenant TENANT (repeatable) or --all-tenants")
        raise typer.Exit(2)
    return [ALL] if all_tenants else list(tenant or ())


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin | clinician | auditor | trainer | trainee")] = "admin",
    tenant: TenantsOpt = None,
    all_tenants: AllTenantsOpt = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input.")] = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Create a staff account (the first admin is created this way; there are no default passwords). Which tenants
    they see is always said: --tenant T (repeatable) or --all-tenants."""
    from mindrail.console.accounts import Accounts

    tenants = _grant_list(tenant, all_tenants)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        Accounts(open_store(db, key_file)).add_user(username, role, password, tenants=tenants)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(f"added {role} {username} ({'all tenants' if '*' in tenants else ', '.join(tenants)})")


@staff_app.command("grant")
def staff_grant(
    username: Annotated[str, typer.Argument(help="Staff login name.")],
    tenants: Annotated[list[str] | None, typer.Argument(help="Tenants to grant.")] = None,
    all_tenants: AllTenantsOpt = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Let a member of staff see tenants in the console (audited; applies at their next page)."""
    from mindrail.console.accounts import Accounts
    from mindrail.store import NotFound

    names = _grant_list(tenants, all_tenants)
    store = open_store(db, key_file)
    accounts, known = Accounts(store), set(store.tenants())
    try:
        for t in names:
            added = accounts.grant(username, t)
            note = "" if t == "*" or t in known else " (no key or conversation has this tenant yet)"
            err.print(f"{username}: {'granted' if added else 'already had'} {t}{note}")
    except (ValueError, NotFound) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@staff_app.command("revoke")
def staff_revoke(
    username: Annotated[str, typer.Argument(help="Staff login name.")],
    tenants: Annotated[list[str] | None, typer.Argument(help="Tenants to revoke.")] = None,
    all_tenants: AllTenantsOpt = False,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Stop a member of staff seeing tenants (--all-tenants revokes the grant to every tenant, not each one)."""
    from mindrail.console.accounts import Accounts
    from mindrail.store import NotFound

    accounts = Accounts(open_store(db, key_file))
    try:
        for t in _grant_list(tenants, all_tenants):
            removed = accounts.revoke(username, t)
            err.print(f"{username}: {'revoked' if removed else 'had no grant to'} {t}")
    except NotFound as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@staff_app.command("list")
def staff_list(db: DbOpt = "sqlite:///var/mindrail.db", key_file: KeyFileOpt = None) -> None:
    """Who sees which tenants, and the tenants no clinician sees (their escalations would wait unseen)."""
    from mindrail.console.accounts import Accounts

    store = open_store(db, key_file)
    users = Accounts(store).list_users()
    table = Table("username", "role", "tenants")
    for u in users:
        tenants = list(u["tenants"])
        table.add_row(str(u["username"]), str(u["role"]), "all" if "*" in tenants else ", ".join(tenants) or "none")
    Console(soft_wrap=True).print(table)
    seen: set[str] = set()
    for u in users:
        if u["role"] == "clinician" and not u["disabled"]:
            seen.update(u["tenants"])
    unseen = [] if "*" in seen else [t for t in store.tenants() if t not in seen]
    if unseen:
        err.print(f"[yellow]no clinician sees:[/yellow] {', '.join(unseen)}")


@export_app.command("labels")
def export_labels_cmd(
    out: Annotated[Path, typer.Option(help="JSONL to write (the format `mindrail train --extra` reads).")] = Path(
        "clinician-labels.jsonl"
    ),
    tenant: Annotated[
        list[str] | None, typer.Option("--tenant", help="Only these tenants (repeatable; default: every tenant).")
    ] = None,
    staff: Annotated[
        str | None, typer.Option(help="Only the tenants this staff member is granted; audited as them.")
    ] = None,
    db: DbOpt = "sqlite:///var/mindrail.db",
    key_file: KeyFileOpt = None,
) -> None:
    """Resolved escalations, de-identified, as labelled examples: clinicians' judgements improve the detector."""
    from mindrail.console.accounts import Accounts
    from mindrail.console.labels import export_labels
    from mindrail.privacy import Vault, default_redactor
    from mindrail.store import NotFound
    from mindrail.store.tenancy import EVERYTHING, Grants, staff_actor

    if tenant and staff:
        err.print("give --tenant or --staff, not both")
        raise typer.Exit(2)
    store = open_store(db, key_file)
    grants, actor = (Grants.of(tenant), "cli") if tenant else (EVERYTHING, "cli")
    if staff:
        try:
            grants, actor = Accounts(store).grants(staff), staff_actor(staff)
        except NotFound as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    n = export_labels(store, out, default_redactor(), Vault, grants, actor)
    err.print(f"wrote {n} labelled examples to {out}")


@audit_app.command("verify")
def audit_verify(db: DbOpt = "sqlite:///var/mindrail.db", key_file: KeyFileOpt = None) -> None:
    """Check the audit chain and the stored turns against it; exit 1 on any edit, deletion or reordering."""
    report = open_store(db, key_file).verify_audit()
    if report.ok:
        typer.echo(f"audit log OK: {report.events} events, chain intact")
        return
    typer.echo(f"audit log BROKEN ({len(report.problems)} problem(s) shown):")
    for p in report.problems:
        typer.echo(f"  {p}")
    raise typer.Exit(1)
