"""Command-line tools: `flask --app wsgi create-user`, `seed-demo`, and the jobs' commands."""

import click
from flask import Flask
from flask.cli import with_appcontext

from scheduler.extensions import db
from scheduler.models.users import USER_ROLES
from scheduler.services import accounts, clock, demo_clinic
from scheduler.services.audit import Actor
from scheduler.services.errors import DomainError


def register_cli(app: Flask) -> None:
    from scheduler.jobs.cli import jobs_cli, serve_command, worker_command

    app.cli.add_command(create_user)
    app.cli.add_command(seed_demo)
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
    click.echo("Demo logins (password for all: %s):" % demo_clinic.DEMO_PASSWORD)
    for role, email in logins:
        click.echo(f"  {role:<12} {email}")
