"""Benchmark: materialise 52 weeks of 200 recurring series, against a bare baseline.

Run from the repository root:

    .venv/bin/python bench/materialize.py
    .venv/bin/python bench/materialize.py --database-url postgresql://postgres@127.0.0.1:5432/db

"Ours" is scheduler.services.series.extend_horizon plus the commit, on a database built by the
Alembic migrations and holding 200 series that have no occurrences yet. The baseline does the
least the same result needs: a bare dateutil rrule expansion with zoneinfo conversion to UTC, then
one executemany INSERT of the same session rows (and one of their facilitator links) into an
identical, empty schema. Each is measured on a fresh database every repetition; the best and the
median are printed, since shared machines are noisy.

On PostgreSQL each repetition gets its own throwaway schema (search_path via the URL's options),
dropped afterwards; nothing else in the database is touched.
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time as timer
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dateutil import rrule as du  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from bench.support import (  # noqa: E402
    database_url_argument,
    describe,
    fresh_database,
    make_app,
    migrate_to_head,
)
from scheduler import clock  # noqa: E402
from scheduler.extensions import db  # noqa: E402
from scheduler.models import Session, SessionSeries, session_facilitators  # noqa: E402
from scheduler.services import programs, rooms, series, staff  # noqa: E402
from scheduler.services.audit import Actor  # noqa: E402

N_SERIES = 200
WEEKS = 52
REPEATS = 3
TARGET_SECONDS = 3.0
TARGET_RATIO = 2.0
TZ_NAME = "America/New_York"
# A Sunday: the series start the next day, so creating them with a zero horizon makes nothing.
NOW = datetime(2027, 1, 3, 12, 0, tzinfo=UTC)
FIRST_MONDAY = date(2027, 1, 4)
PATTERNS = ("MO,WE,TH", "TU,TH,FR")
# Morning, midday and evening tracks, each three hours.
START_TIMES = (time(9, 0), time(12, 30), time(18, 0))
DURATION = 180
N_ROOMS = 8
N_STAFF = 12
TITLES = ("Relapse prevention group", "DBT skills", "Process group", "Life skills",
          "Psycho-education", "Peer support circle", "CBT for cravings", "Family education")
KINDS = ("group", "behavioral", "group", "education", "education", "peer_support",
         "behavioral", "education")


def series_specs() -> list[dict]:
    """The 200 series, spread over patterns, times, rooms and facilitators; some virtual."""
    specs = []
    for i in range(N_SERIES):
        virtual = i % 4 == 3
        specs.append(dict(
            kind=KINDS[i % len(KINDS)],
            title=f"{TITLES[i % len(TITLES)]} {i // len(TITLES) + 1}",
            timezone=TZ_NAME,
            start_date=FIRST_MONDAY,
            start_time=START_TIMES[i % len(START_TIMES)],
            duration_minutes=DURATION,
            rrule=f"FREQ=WEEKLY;BYDAY={PATTERNS[(i // len(START_TIMES)) % len(PATTERNS)]}",
            capacity=12,
            room_index=None if virtual else i % N_ROOMS,
            video_url=f"https://video.example.org/room-{i}" if virtual else None,
            staff_index=i % N_STAFF,
        ))
    return specs


# --- databases ---------------------------------------------------------------------------------


def seed(specs: list[dict]) -> None:
    """One program, rooms, staff and the series, created with no occurrences yet."""
    actor = Actor.system("bench")
    session = db.session
    program = programs.create_program(
        session, actor, name="Bench Program", level_of_care="2.1", population="adult",
        timezone=TZ_NAME, address="200 Main Street",
    )
    room_rows = [rooms.create_room(session, actor, name=f"Room {i + 1}", capacity=14)
                 for i in range(N_ROOMS)]
    staff_rows = [staff.create_staff(session, actor, name=f"Clinician {i + 1}", role="therapist",
                                     email=f"staff{i + 1}@bench.test")
                  for i in range(N_STAFF)]
    for spec in specs:
        fields = {k: v for k, v in spec.items() if k not in ("room_index", "staff_index")}
        room = spec["room_index"]
        series.create_series(
            session, actor, now=NOW, horizon_days=0, program_id=program.id,
            room_id=room_rows[room].id if room is not None else None,
            facilitator_ids=[staff_rows[spec["staff_index"]].id], **fields,
        )
    session.commit()
    made = session.scalar(select(func.count(Session.id)))
    if made:
        raise SystemExit(f"Setup made {made} sessions; the series should start empty.")


# --- ours --------------------------------------------------------------------------------------


def run_ours(url: str, specs: list[dict], profile: cProfile.Profile | None = None):
    app = make_app(url)
    with app.app_context():
        migrate_to_head()
        seed(specs)
        db.session.expire_all()
        if profile:
            profile.enable()
        started = timer.perf_counter()
        created = series.extend_horizon(db.session, NOW, WEEKS * 7)
        db.session.commit()
        elapsed = timer.perf_counter() - started
        if profile:
            profile.disable()
        rows = db.session.scalar(select(func.count(Session.id)))
        links = db.session.scalar(select(func.count()).select_from(session_facilitators))
        db.session.remove()
        db.engine.dispose()
    if created != rows:
        raise SystemExit(f"extend_horizon reported {created} but {rows} rows exist.")
    return elapsed, rows, links


# --- baseline ----------------------------------------------------------------------------------


def baseline_rows(parents: list[dict], until: datetime):
    """Bare rrule expansion in the series' zone, converted to UTC, into insertable rows."""
    session_rows = []
    owners = []
    tz = ZoneInfo(TZ_NAME)
    days = {"MO": du.MO, "TU": du.TU, "WE": du.WE, "TH": du.TH, "FR": du.FR}
    stamp = datetime.now(UTC)
    for parent in parents:
        byday = parent["rrule"].split("BYDAY=")[1]
        rule = du.rrule(
            du.WEEKLY,
            dtstart=datetime.combine(parent["start_date"], parent["start_time"]),
            byweekday=[days[d] for d in byday.split(",")],
            until=until.astimezone(tz).replace(tzinfo=None),
        )
        length = timedelta(minutes=parent["duration_minutes"])
        for local in rule:
            start = local.replace(tzinfo=tz).astimezone(UTC)
            if start <= NOW or start > until:
                continue
            session_rows.append({
                "series_id": parent["id"], "program_id": parent["program_id"],
                "kind": parent["kind"], "title": parent["title"], "timezone": parent["timezone"],
                "original_start": start, "starts_at": start, "ends_at": start + length,
                "capacity": parent["capacity"], "room_id": parent["room_id"],
                "video_url": parent["video_url"], "status": "scheduled",
                "is_overridden": False, "sequence": 0, "created_at": stamp, "updated_at": stamp,
            })
            owners.append(parent["staff_id"])
    return session_rows, owners


def run_baseline(url: str, specs: list[dict]):
    """The same rows through one core executemany into an identical, empty schema."""
    app = make_app(url)
    with app.app_context():
        migrate_to_head()
        # The parent rows the sessions' foreign keys need, made outside the timing.
        seed(specs)
        parents = [
            dict(row._mapping)
            for row in db.session.execute(
                select(SessionSeries.__table__).order_by(SessionSeries.id)
            )
        ]
        staff_of = dict(db.session.execute(
            text("SELECT series_id, staff_id FROM series_facilitators")
        ).all())
        for parent in parents:
            parent["staff_id"] = staff_of[parent["id"]]
        db.session.remove()
        engine = db.engine
        until = NOW + timedelta(days=WEEKS * 7)

        started = timer.perf_counter()
        session_rows, owners = baseline_rows(parents, until)
        expanded = timer.perf_counter()
        with engine.begin() as conn:
            conn.execute(insert(Session.__table__), session_rows)
            ids = conn.execute(
                select(Session.id).order_by(Session.series_id, Session.original_start)
            ).scalars().all()
            # Rows were built series by series in time order, so they pair up with the ids.
            conn.execute(
                insert(session_facilitators),
                [{"session_id": i, "staff_id": s} for i, s in zip(ids, owners, strict=True)],
            )
        elapsed = timer.perf_counter() - started
        rows = len(session_rows)
        engine.dispose()
    return elapsed, rows, expanded - started


# --- report ------------------------------------------------------------------------------------


def profile_report(profile: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(25)
    out.write("\n--- by function in scheduler/ (cumulative) ---\n")
    stats.sort_stats("cumulative").print_stats("scheduler/", 20)
    return out.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="run against PostgreSQL (a database of yours; "
                        "each repetition uses and drops its own schema)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of one run of ours even when on target")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 when a target is missed")
    args = parser.parse_args(argv)
    base_url = database_url_argument(parser, args)

    specs = series_specs()
    ours, base, expansion = [], [], []
    rows = links = base_rows = None
    print(f"Materialise {WEEKS} weeks of {N_SERIES} weekly series (3 days a week, "
          f"{DURATION} min, {TZ_NAME}) on {describe(base_url)}")
    print("  ours:     series.extend_horizon + commit")
    print("  baseline: dateutil rrule + zoneinfo to UTC, one core executemany into sessions "
          "and one into session_facilitators, commit")
    with clock.frozen(NOW), tempfile.TemporaryDirectory(prefix="bench-materialize-") as workdir:
        for i in range(args.repeats):
            with fresh_database(base_url, workdir, "ours") as url:
                seconds, rows, links = run_ours(url, specs)
            ours.append(seconds)
            with fresh_database(base_url, workdir, "base") as url:
                seconds, base_rows, expand_seconds = run_baseline(url, specs)
            base.append(seconds)
            expansion.append(expand_seconds)
            print(f"  run {i + 1}: ours {ours[-1]:.3f} s   baseline {base[-1]:.3f} s "
                  f"(of which rrule expansion {expand_seconds:.3f} s)")
        if rows != base_rows:
            print(f"MISMATCH: ours made {rows} sessions, the baseline {base_rows}.")
            return 1

        best_ours, best_base = min(ours), min(base)
        ratio = best_ours / best_base
        print()
        print(f"  sessions made            {rows:>10,}  (+ {links:,} facilitator links)")
        print(f"  ours      best / median  {best_ours:>10.3f} s / {statistics.median(ours):.3f} s")
        print(f"  baseline  best / median  {best_base:>10.3f} s / {statistics.median(base):.3f} s")
        print(f"  ratio (best / best)      {ratio:>10.2f}x  "
              f"(median / median {statistics.median(ours) / statistics.median(base):.2f}x)")
        print(f"  rows per second (ours)   {rows / best_ours:>10,.0f}")
        on_time = best_ours < TARGET_SECONDS
        on_ratio = ratio <= TARGET_RATIO
        print(f"  target < {TARGET_SECONDS:.0f} s:            {'met' if on_time else 'MISSED'}")
        print(f"  target ratio <= {TARGET_RATIO:.0f}:       {'met' if on_ratio else 'MISSED'}")

        if args.profile or not (on_time and on_ratio):
            print("\nProfile of one run of ours (extend_horizon + commit):")
            profile = cProfile.Profile()
            with fresh_database(base_url, workdir, "prof") as url:
                run_ours(url, specs, profile)
            print(profile_report(profile))
    return 2 if args.strict and not (on_time and on_ratio) else 0


if __name__ == "__main__":
    sys.exit(main())
