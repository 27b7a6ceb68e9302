"""The reports and follow-up pages through the test client: the services' numbers, CSV links."""

import re
from datetime import UTC, date, datetime
from html import unescape

import pytest

from scheduler import clock
from scheduler.services import reports
from scheduler.web.charts import hours_text
from tests.helpers import sign_in
from tests.test_pages_clients import clinic


@pytest.fixture
def setup(db, make):
    return clinic(db, make)


def cells(page: str, table_id: str) -> list[list[str]]:
    """The table's body rows as lists of cell texts."""
    table = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", cell))).strip()
             for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)] for row in rows]


def test_the_reports_page_shows_the_services_figures_with_csv_links(client, db, make, setup,
                                                                    now):
    sign_in(client, make.user("coordinator"))
    query = f"program={setup.program.id}&from=2027-02-01&to=2027-02-14"
    answer = client.get(f"/reports?{query}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    first, last = date(2027, 2, 1), date(2027, 2, 14)

    hours = reports.weekly_hours(db, setup.program.id, first, last)
    names = {setup.avery.id: "Avery Stone", setup.blake.id: "Blake Ortiz"}
    grid = {row[0]: row[1:] for row in cells(page, "client-hours")}
    for row in hours:
        column = (row.week_start - first).days // 7
        expected = f"{hours_text(row.attended_hours)} / {hours_text(row.target_hours)}"
        assert grid[names[row.client_id]][column].startswith(expected)
    # Avery by hand: 1.5 h, then 3 + 2 h against 9.
    assert grid["Avery Stone"][0].startswith("1.5 / 9")
    assert grid["Avery Stone"][1].startswith("5 / 9")
    summary = cells(page, "week-summary")
    assert summary[1][:3] == ["2027-02-08", "2", "5"]

    rates = {row[0]: row for row in cells(page, "rates")}
    for rate in reports.attendance_rates(db, setup.program.id, first, last, "client", now):
        row = rates[names[rate.client_id]]
        assert row[1] == str(rate.attended) and row[3] == str(rate.counts["absent_unexcused"])
        assert row[7] == f"{rate.rate * 100:.1f}%"
    assert rates["Blake Ortiz"][3] == "2" and rates["Blake Ortiz"][7] == "0.0%"
    census = reports.census(db, setup.program.id, first, last)
    assert len(cells(page, "census")) == len(census) == 3

    # The chart has its text alternative.
    assert re.search(r"<svg[^>]*role=\"img\"", page) and "<desc" in page
    # Each report links to the API's CSV, which the login session may download.
    links = re.findall(r'href="(/api/v1/reports/[^"]+format=csv)"', page)
    names_linked = {link.split("?")[0].rsplit("/", 1)[1] for link in links}
    assert names_linked == {"weekly-hours", "attendance-rates", "census"}
    for link in links:
        download = client.get(unescape(link))
        assert download.status_code == 200 and download.mimetype == "text/csv"


def test_a_bad_period_is_refused_naming_the_field(client, make, setup):
    sign_in(client, make.user("coordinator"))
    answer = client.get(f"/reports?program={setup.program.id}&from=01/02/2027")
    assert answer.status_code == 400 and b"From: must be a date" in answer.data
    answer = client.get(f"/reports?program={setup.program.id}&from=2027-02-10&to=2027-02-01")
    assert answer.status_code == 422 and b"To:" in answer.data
    answer = client.get("/reports?program=999")
    assert answer.status_code == 404 and b"Program: there is no such program." in answer.data


def test_a_refused_program_still_offers_the_clinics_current_weeks(client, make, setup):
    """Sunday 22:00 in New York is already Monday in UTC: the period offered still ends on the
    clinic's Sunday, not a week ahead."""
    with clock.frozen(datetime(2027, 2, 22, 3, 0, tzinfo=UTC)):
        sign_in(client, make.user("coordinator"))
        page = client.get("/reports?program=999").data.decode()
    assert 'id="to" name="to" type="date" value="2027-02-21"' in page
    assert 'id="from" name="from" type="date" value="2027-01-25"' in page


def test_follow_up_lists_two_unexcused_absences_in_a_row(client, make, setup, now):
    sign_in(client, make.user("coordinator"))
    answer = client.get(f"/follow-up?program={setup.program.id}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    streaks = cells(page, "streaks")
    assert streaks == [["Blake Ortiz", "2", "2", "never"]]
    # Avery's certification (4 Jan + 60 days = 5 Mar) is not yet within two weeks.
    assert "Avery Stone" not in page.split('id="paperwork-heading"', 1)[1].split("</section>")[0]
    below = {row[0]: row for row in cells(page, "below")}
    expected = reports.below_target(make.db, setup.program.id, now)
    assert set(below) == {"Avery Stone", "Blake Ortiz"} and len(expected) == 2
    assert "/api/v1/reports/follow-up?" in page


def test_a_clinicians_follow_up_holds_their_caseload_only(client, make, setup, now):
    """Dana is Avery's primary therapist and leads no session of Blake's: Blake's absences
    are not hers to read (issue 19), Avery's week is."""
    sign_in(client, make.user("clinician", staff_id=setup.therapist.id))
    answer = client.get(f"/follow-up?program={setup.program.id}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "The clients on your caseload" in page
    assert "Blake Ortiz" not in page
    assert 'id="streaks"' not in page
    assert [row[0] for row in cells(page, "below")] == ["Avery Stone"]


def test_follow_up_shows_paperwork_due(client, db, make, setup):
    with_due = datetime(2027, 2, 25, 12, 0, tzinfo=UTC)
    with clock.frozen(with_due):
        sign_in(client, make.user("coordinator"))
        page = client.get("/follow-up").get_data(as_text=True)
    assert cells(page, "paperwork") == [["Avery Stone", "2027-03-05", "—"]]


def test_clinicians_may_not_open_the_coordinators_reports(client, make, setup):
    sign_in(client, make.user("clinician", staff_id=setup.therapist.id))
    assert client.get("/reports").status_code == 403
    assert client.get("/intake").status_code == 403
    assert client.get("/follow-up").status_code == 200
