"""The alerts page (issue 19) through HTTP: admins review each break of the glass with its
reason, everyone on staff sees who needs a call, a clinician only their caseload; names, not
numbers; acknowledging goes through the alerts service, and reading is logged.

Avery Stone's plan names Dana her primary therapist; Blake Quinn is on nobody's caseload; Sam
broke the glass for Avery. The clinic's clock stands at Tue 16 February 2027 12:00 UTC
(07:00 in New York).
"""

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from scheduler.models import Alert, AuditEvent
from scheduler.services import caseload, plans, sites
from tests.helpers import ACTOR, sign_in
from tests.test_access_audit import access, expect, last_id, new_rows

NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)


def add_alert(db, kind: str, client, program, detail: dict, raised_at: datetime) -> Alert:
    alert = Alert(key=f"{kind}:client={client.id}", kind=kind, client_id=client.id,
                  program_id=program.id, detail=detail, raised_at=raised_at)
    db.add(alert)
    db.flush()
    return alert


@pytest.fixture
def clinic(db, make):
    program = make.program(name="Evening IOP")
    dana, sam = make.staff(name="Dana Reyes"), make.staff(name="Sam Ortiz")
    avery = make.client(program, name="Avery Stone")
    blake = make.client(program, name="Blake Quinn")
    plans.create_plan(db, ACTOR, avery.id, start_date=date(2027, 1, 4),
                      primary_therapist_id=dana.id)
    sam_user = make.user("clinician", staff_id=sam.id)
    streak = add_alert(db, "absence_streak", avery, program,
                       {"unexcused_streak": 3,
                        "last_attended_at": datetime(2027, 2, 8, 23, tzinfo=UTC).isoformat()},
                       NOW - timedelta(hours=3))
    short = add_alert(db, "below_target", blake, program,
                      {"projected_hours": 4.5, "target_hours": 9.0, "fixable": True},
                      NOW - timedelta(hours=2))
    grant, _ = caseload.break_glass(db, ACTOR, sam_user, avery.id,
                                    "Covering Dana's crisis call", NOW, caseload.Policy())
    glass = db.scalars(select(Alert).where(Alert.kind == "break_glass")).one()
    db.commit()
    return {"program": program, "avery": avery, "blake": blake, "streak": streak,
            "short": short, "glass": glass, "sam": sam_user,
            "dana": make.user("clinician", staff_id=dana.id),
            "admin": make.user("admin"), "coordinator": make.user("coordinator")}


def rows(page: str) -> list[str]:
    """Each alert's row as its text, in order."""
    body = page.split('id="alerts"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    texts = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
             for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    return [unescape(re.sub(r" ([.,;])", r"\1", text)) for text in texts]


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def open_page(client, user, query: str = "") -> str:
    sign_in(client, user)
    answer = client.get(f"/alerts{query}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_an_admin_reviews_who_broke_the_glass_for_whom_when_and_why(client, clinic):
    page = open_page(client, clinic["admin"])
    glass, short, streak = rows(page)  # newest first
    assert glass.startswith("Tue 16 Feb 2027, 07:00 Broke the glass Avery Stone · Evening IOP")
    assert ("Sam Ortiz broke the glass to read Avery Stone's clinical record, with access "
            "until Tue 16 Feb 2027, 08:00. Their reason: “Covering Dana's crisis call”") in glass
    assert glass.endswith("Reviewed")
    assert "3 unexcused absences in a row; last attended Mon 8 Feb 2027, 18:00." in streak
    assert ("Booked 4.5 of 9 hours this week; sessions with free seats could close the gap."
            in short)
    # Names link to the client page; no row shows a number for a person or a record.
    assert f'href="/clients/{clinic["avery"].id}"' in page
    assert not re.search(r"\b(client|alert|user|program) #?\d+\b", " ".join(rows(page)), re.I)
    assert "Alerts" in re.search(r"<nav.*?</nav>", page, re.S).group(0)


def test_coordinators_see_who_needs_a_call_and_never_a_break_of_the_glass(client, clinic):
    page = open_page(client, clinic["coordinator"])
    short, streak = rows(page)
    assert "Hours below target this week Blake Quinn · Evening IOP" in short
    assert "Missed sessions in a row Avery Stone · Evening IOP" in streak
    assert "Covering Dana" not in page and "Broke the glass" not in page


def test_a_clinician_sees_the_alerts_of_their_caseload_only(client, clinic):
    page = open_page(client, clinic["dana"])
    assert len(rows(page)) == 1 and "Avery Stone" in rows(page)[0]
    assert "Blake Quinn" not in page and "Covering Dana" not in page
    assert "Clients on your caseload who need a call today" in page


def test_acknowledging_goes_through_the_service_audited_and_names_who_did(client, db, clinic):
    page = open_page(client, clinic["dana"])
    done = client.post(f"/alerts/{clinic['streak'].id}/acknowledge",
                       data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert "Missed sessions in a row: Avery Stone, acknowledged." in html
    assert "No open alerts." in html
    db.expire_all()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "alert",
                                                  AuditEvent.action == "acknowledge")).all()
    assert (event.entity_id, event.actor_user_id) == (clinic["streak"].id, clinic["dana"].id)
    every = open_page(client, clinic["admin"], "?all=1")
    [streak] = [row for row in rows(every) if "Missed sessions" in row]
    assert streak.endswith("Acknowledged Tue 16 Feb 2027, 07:00 by Dana Reyes")


def test_an_alert_the_page_does_not_show_cannot_be_acknowledged_by_number(client, db, clinic):
    # Sam broke the glass for Avery, so her alert is his to see; Blake's is not.
    for user, alert in ((clinic["dana"], "short"), (clinic["coordinator"], "glass"),
                        (clinic["sam"], "short")):
        page = open_page(client, user)
        answer = client.post(f"/alerts/{clinic[alert].id}/acknowledge",
                             data={"csrf_token": csrf(page)})
        assert answer.status_code == 404, alert
    db.expire_all()
    assert db.scalars(select(Alert.acknowledged_at)).all() == [None, None, None]
    page = open_page(client, clinic["dana"])
    assert client.post(f"/alerts/{clinic['streak'].id}/acknowledge").status_code == 400


def test_reading_the_page_logs_each_client_it_names(client, db, clinic):
    for user, shown in ((clinic["coordinator"], [clinic["avery"], clinic["blake"]]),
                        (clinic["dana"], [clinic["avery"]])):
        sign_in(client, user)
        since = last_id(db)
        assert client.get("/alerts").status_code == 200
        assert access(new_rows(db, since)) == expect(user, [c.id for c in shown], "alerts",
                                                     via="page")


def test_clients_may_not_open_the_alerts_page(client, make, clinic):
    sign_in(client, make.user("client", client_id=clinic["avery"].id))
    assert client.get("/alerts").status_code == 403


def test_a_coordinator_of_another_site_sees_none_of_these_alerts(client, db, make, clinic):
    westside = sites.create_site(db, ACTOR, name="Westside", timezone="America/New_York")
    coordinator = make.user("coordinator")
    sites.set_user_sites(db, ACTOR, coordinator, [westside.id])
    db.commit()
    page = open_page(client, coordinator)
    assert "No open alerts." in page and "Avery Stone" not in page
    answer = client.post(f"/alerts/{clinic['streak'].id}/acknowledge",
                         data={"csrf_token": csrf(page)})
    assert answer.status_code == 404
