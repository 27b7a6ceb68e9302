"""The logins page: admins manage every login, coordinators the clients' logins."""

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.validators import Optional

from scheduler import clock, outbox
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.i18n import ngettext
from scheduler.models import Client, Staff
from scheduler.models.users import COORDINATORS, STAFF, USER_ROLES
from scheduler.services import account_links, accounts, mfa, sites
from scheduler.services import users as logins_admin
from scheduler.services.errors import DomainError, InvalidField, StateConflict
from scheduler.services.text import text_problem
from scheduler.web import query_args
from scheduler.web.access import log_page_read, page_actor, page_roles
from scheduler.web.calendar.pickers import offer_client_rows, offer_staff
from scheduler.web.form_fields import PickerField, PlainForm
from scheduler.web.refusals import beside_field, beside_fields, describe

bp = Blueprint("user_pages", __name__)

PER_PAGE = 50
STATUSES = {"active": True, "deactivated": False}
ROLE_LABELS = {"admin": _l("Admin"), "coordinator": _l("Coordinator"), "clinician": _l("Clinician"),
               "client": _l("Client"), "kiosk": _l("Kiosk (front-desk tablet)")}
STATUS_LABELS = {"active": _l("Active"), "deactivated": _l("Deactivated")}
FIELD_LABELS = {"client_id": _l("Client"), "role": _l("Role"), "is_active": _l("Status"),
                "email": _l("Email"), "staff_id": _l("Staff member")}


def _viewer() -> logins_admin.Viewer:
    return logins_admin.Viewer(current_user.id, current_user.role, page_actor())


def _filters() -> dict:
    """The form's filters, checked; a bad one raises BadQuery naming it."""
    status = query_args.choice_arg("status", tuple(STATUSES))
    return {
        "email": query_args.text_arg("email", 254),
        "role": query_args.choice_arg("role", logins_admin.managed_roles(current_user.role)),
        "status": status,
        "page": query_args.number_arg("page", 1_000_000) or 1,
    }


def _owners(logins) -> dict:
    """Who each login belongs to, in words: the client's or staff member's name."""
    client_ids = {u.client_id for u in logins if u.client_id}
    staff_ids = {u.staff_id for u in logins if u.staff_id}
    clients = dict(db.session.execute(
        select(Client.id, Client.name).where(Client.id.in_(client_ids))).tuples().all())
    staff = dict(db.session.execute(
        select(Staff.id, Staff.name).where(Staff.id.in_(staff_ids))).tuples().all())
    return {u.id: clients.get(u.client_id) or staff.get(u.staff_id) for u in logins}


class InvitePickers(PlainForm):
    """Whom an invitation is for: the invite form's two pickers (the view reads the post)."""

    client_id = PickerField(_l("Client (for a client login)"), validators=[Optional()])
    staff_id = PickerField(_l("Staff member (for a staff login)"), validators=[Optional()])


def _invite_pickers() -> InvitePickers:
    form = InvitePickers(formdata=None)
    offer_client_rows(form.client_id, logins_admin.uninvited_clients(), "—",
                      {"status": "active"})
    staff = logins_admin.uninvited_staff(current_user.role)
    if staff is not None:
        offer_staff(form.staff_id, "—", rows=staff)
    # A refused invitation shows beside its picker (the macro reads the field's errors).
    refused = g.get("field_refusals") or {}
    for field in (form.client_id, form.staff_id):
        if field.name in refused:
            field.errors = [refused[field.name]]
    return form


def _page_url(page: int) -> str:
    return url_for(".index", **{**request.args.to_dict(), "page": page})


def list_page(status: int = 200):
    given = _filters() if status == 200 else {"email": None, "role": None, "status": None,
                                              "page": 1}
    where = logins_admin.LoginFilter(email=given["email"], role=given["role"],
                                     is_active=STATUSES.get(given["status"] or ""))
    logins, total = logins_admin.list_logins(
        db.session, current_user.role, where, offset=(given["page"] - 1) * PER_PAGE,
        limit=PER_PAGE)
    if request.method == "GET":
        # The list names the clients the logins belong to.
        log_page_read([u.client_id for u in logins if u.client_id], "login_list")
    pages = max(1, -(-total // PER_PAGE))
    is_admin = current_user.role == "admin"
    return render_template(
        "users/index.html", logins=logins, total=total, given=given, page=given["page"],
        pages=pages, owners=_owners(logins), now=clock.now(), is_admin=is_admin,
        site_names=sites.user_site_names(
            db.session, [u.id for u in logins if u.role == "coordinator"]),
        roles=logins_admin.managed_roles(current_user.role), role_labels=ROLE_LABELS,
        statuses=tuple(STATUSES), status_labels=STATUS_LABELS, mfa_enabled=logins_admin.mfa_enabled,
        invite=_invite_pickers(),
        prev_url=_page_url(given["page"] - 1) if given["page"] > 1 else None,
        next_url=_page_url(given["page"] + 1) if given["page"] < pages else None,
    ), status


@bp.get("/users")
@page_roles(*COORDINATORS)
def index():
    """Logins by email, with role, status, last sign-in, two-step sign-in and lock."""
    return list_page()


def _change(user_id: int, changes: dict, done: str, input: str):
    """Apply the change; a refusal the page can explain is shown beside the row's `input`
    ("role" or "status", the template's id for it: role-7, status-7)."""
    try:
        user = logins_admin.update_login(db.session, _viewer(), user_id, changes, clock.now())
    except (InvalidField, StateConflict) as error:
        db.session.rollback()
        beside_field(error, FIELD_LABELS, f"{input}-{user_id}", what=_("Not changed"))
        return list_page(error.status)
    db.session.commit()
    flash(done.format(email=user.email), "success")
    return redirect(url_for(".index"), code=303)


@bp.post("/users/<int:user_id>/deactivate")
@page_roles(*COORDINATORS)
def deactivate(user_id: int):
    """The login can no longer sign in; its sign-ins, calendar links and kiosk PIN end."""
    return _change(user_id, {"is_active": False},
                   _("{email} is deactivated: signed out everywhere, calendar links and kiosk "
                     "PIN stopped."), "status")


@bp.post("/users/<int:user_id>/reactivate")
@page_roles(*COORDINATORS)
def reactivate(user_id: int):
    """The login may sign in again; nothing it had before comes back."""
    return _change(user_id, {"is_active": True},
                   _("{email} can sign in again. Calendar links and a kiosk PIN need "
                     "to be made anew."), "status")


@bp.post("/users/<int:user_id>/role")
@page_roles("admin")
def change_role(user_id: int):
    """A new role for the login (admins only); it is signed out everywhere."""
    role = request.form.get("role", "")
    if role not in USER_ROLES:
        beside_field(InvalidField("role", _("choose one of the listed roles.")), FIELD_LABELS,
                     f"role-{user_id}", what=_("Not changed"))
        return list_page(422)
    return _change(user_id, {"role": role},
                   _("{email} is now %(role)s and signed out everywhere.",
                     role=str(ROLE_LABELS[role]).lower()), "role")


@bp.post("/users/<int:user_id>/unlock")
@page_roles("admin")
def unlock(user_id: int):
    """Lift the lock that wrong passwords put on the login (admins only)."""
    user = accounts.unlock(db.session, page_actor(), user_id)
    db.session.commit()
    flash(_("%(email)s is unlocked and may try their password again.", email=user.email),
          "success")
    return redirect(url_for(".index"), code=303)


INVITE_FIELDS = ("email", "role", "client_id", "staff_id")


def _form_id(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 10:
        raise InvalidField(name, _("choose one from the list."))
    return int(value)


@bp.post("/users/invite")
@page_roles(*COORDINATORS)
def invite():
    """Email a person a link to set their own password (72 hours, once)."""
    email = request.form.get("email", "").strip()
    role = request.form.get("role", "")
    try:
        if (not email or len(email) > 254 or text_problem(email, multiline=False)
                or "@" not in email):
            raise InvalidField("email", _("give the person's email address."))
        if role not in logins_admin.managed_roles(current_user.role):
            raise InvalidField("role", _("choose one of the listed roles."))
        client_id, staff_id = _form_id("client_id"), _form_id("staff_id")
        sent = account_links.invite(
            db.session, current_user, email=email, role=role,
            client_id=client_id if role == "client" else None,
            staff_id=staff_id if role in STAFF else None, now=clock.now(),
            base_url=outbox.base_url(), public_name=current_app.config["PUBLIC_NAME"],
            address=outbox.remote_address())
    except DomainError as error:
        db.session.rollback()
        if not beside_fields(error, FIELD_LABELS, INVITE_FIELDS):
            flash(describe(error, FIELD_LABELS, what=_("Not invited")), "error")
        return list_page(error.status)
    db.session.commit()
    outbox.send_after_response(sent.message_key)
    flash(_("An invitation to set a password is on its way to %(email)s.", email=email), "success")
    return redirect(url_for(".index"), code=303)


@bp.post("/users/<int:user_id>/sign-out")
@page_roles(*COORDINATORS)
def sign_out_everywhere(user_id: int):
    """End every sign-in of the login (a lost phone, a computer left signed in)."""
    user, ended = logins_admin.end_sign_ins(db.session, _viewer(), user_id, clock.now())
    db.session.commit()
    flash(ngettext("%(email)s is signed out everywhere (%(num)d sign-in ended).",
                   "%(email)s is signed out everywhere (%(num)d sign-ins ended).", ended,
                   email=user.email), "success")
    return redirect(url_for(".index"), code=303)


@bp.post("/users/<int:user_id>/mfa-reset")
@page_roles("admin")
def reset_mfa(user_id: int):
    """Clear the login's two-step sign-in (a lost phone) and end its sign-ins (admins only)."""
    user = mfa.reset(db.session, page_actor(), user_id, clock.now())
    db.session.commit()
    flash(_("Two-step sign-in of %(email)s is reset and they are signed out; they set it "
            "up again at their next sign-in.", email=user.email), "success")
    return redirect(url_for(".index"), code=303)

