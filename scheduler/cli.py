"""Command-line tools: `flask --app wsgi create-user`, `seed-demo`, `export`, `import`, jobs."""

import contextlib
import json
import os

import click
from flask import Flask
from flask.cli import with_appcontext

from scheduler import clock, demo_clinic
from scheduler.extensions import db
from scheduler.jobs.cli import jobs_cli, serve_command, worker_command
from scheduler.models.users import USER_ROLES
from scheduler.services import accounts, portability
from scheduler.services.audit import Actor
from scheduler.services.errors import DomainError


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(seed_demo)
    app.cli.add_command(export_command)
    app.cli.add_command(import_command)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(serve_command)


@click.command("create-user")
@with_appcontext
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 12 characters, not a common one.")
@click.option("--role", required=True, type=click.Choice(USER_ROLES))
@click.option("--staff-id", type=int, help="Link to a staff record.")
@click.option("--client-id", type=int, help="Link to a client record (required for clients).")
def create_user(email, password, role, staff_id, client_id):
    """Create a login."""
    try:
        user = accounts.create_user(
            db.session,
            Actor.system("cli"),
            email=email,
            password=password,
            role=role,
            staff_id=staff_id,
            client_id=client_id,
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@click.command("seed-demo")
@with_appcontext
@click.option("--clients", "n_clients", default=24, show_default=True, help="Clients to admit.")
@click.option("--weeks", default=12, show_default=True, help="Weeks of sessions to make.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database holds a program.")
def seed_demo(n_clients, weeks, if_empty):
    """Load a deterministic demo clinic and print its logins."""
    if n_clients < 1 or weeks < 1:
        raise click.ClickException("--clients and --weeks must be at least 1.")
    if demo_clinic.has_data(db.session):
        if if_empty:
            click.echo("Demo data already present; nothing to do.")
            return
        raise click.ClickException("The database already holds data; seed an empty one.")
    steps = demo_clinic.plan_size(n_clients)
    with click.progressbar(length=steps, label="Seeding demo clinic") as bar:
        logins = demo_clinic.seed(
            db.session,
            n_clients=n_clients,
            weeks=weeks,
            now=clock.now(),
            progress=bar.update,
        )
    db.session.commit()
    click.echo(f"Demo logins (password for all: {demo_clinic.DEMO_PASSWORD}):")
    for role, email in logins:
        click.echo(f"  {role:<12} {email}")


@click.command("export")
@with_appcontext
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def export_command(file):
    """Write the whole clinic to FILE (- for stdout) as versioned JSON, to import elsewhere.

    Password and token hashes are the clinic's data and go in too, so logins, API tokens and
    feed links keep working after an import; the file is as sensitive as the database.
    """
    try:
        document = portability.export_clinic(db.session, Actor.system("cli"), destination=file)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    if file == "-":
        click.echo(text)
        db.session.commit()
    else:
        _write_private(file, text)
    # With the document on stdout, the summary goes to stderr.
    _print_counts({name: len(rows) for name, rows in document["tables"].items()},
                  err=file == "-")
    if file == "-":
        click.echo("The export holds clinical records: keep wherever it goes private.", err=True)
    else:
        click.echo(f"Wrote {file} with mode 0600: it holds clinical records, keep it private.")


@click.command("import")
@with_appcontext
@click.argument("file", type=click.File("rb"))
def import_command(file):
    """Load a clinic exported by `export` into this empty, migrated database, in one transaction.

    Password and token hashes come with it, so users log in and feed links resolve as before.
    """
    try:
        document = json.load(file)
    except ValueError as error:
        raise click.ClickException(
            f"{file.name} is not valid JSON (truncated or damaged?): {error}"
        ) from None
    try:
        counts = portability.import_clinic(db.session, Actor.system("cli"), document,
                                           source=file.name)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(f"Nothing imported. {error.message}") from None
    db.session.commit()
    _print_counts(counts)
    click.echo(f"Imported {file.name}.")


def _write_private(path: str, text: str) -> None:
    """Write the file readable by its owner only, whole or not at all, then commit the audit."""
    partial = f"{path}.partial"
    try:
        # O_EXCL: never write into a file that some other account made, and may read.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        db.session.rollback()
        raise click.ClickException(f"Could not write {partial}: {error.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        db.session.commit()
        os.replace(partial, path)
    except BaseException as error:
        db.session.rollback()
        _remove(partial)
        if isinstance(error, OSError):
            raise click.ClickException(f"Could not write {path}: {error.strerror}.") from None
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _print_counts(counts: dict[str, int], err: bool = False) -> None:
    for name, count in counts.items():
        click.echo(f"  {name:<24} {count:>8}", err=err)
    click.echo(f"  {'total rows':<24} {sum(counts.values()):>8}", err=err)
