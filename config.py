"""Configuration classes; every value can be overridden from the environment."""

import os
import unicodedata
from datetime import timedelta


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def normalize_database_url(url: str | None) -> str | None:
    """Point plain postgres URLs at psycopg 3, the driver we ship."""
    if not url:
        return url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = normalize_database_url(os.environ.get("DATABASE_URL"))
    # hide_parameters: an error or echoed statement must not write names, plans or reasons
    # into the logs (42 CFR Part 2); scheduler/log_privacy.py covers the rest.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True, "hide_parameters": True}
    # While the database is away requests answer 503 with this Retry-After, in seconds.
    DATABASE_RETRY_AFTER = _env_int("DATABASE_RETRY_AFTER", 5)
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # How passwords and kiosk PINs are hashed (a werkzeug method). Production allows scrypt only.
    PASSWORD_HASH_METHOD = "scrypt"

    # Recurring series are materialised this far ahead; the nightly job keeps it rolling.
    SESSION_HORIZON_DAYS = _env_int("SESSION_HORIZON_DAYS", 120)
    API_TOKEN_TTL_HOURS = _env_int("API_TOKEN_TTL_HOURS", 12)
    # Attendance older than this changes only with a reason, by a coordinator or admin.
    ATTENDANCE_LOCK_DAYS = _env_int("ATTENDANCE_LOCK_DAYS", 7)
    # Self check-in after the start plus this many minutes counts as late.
    CHECKIN_GRACE_MINUTES = _env_int("CHECKIN_GRACE_MINUTES", 10)
    SCHEDULER_EMBEDDED = _env_bool("SCHEDULER_EMBEDDED", False)
    # A booking with no attendance this long after its session ends becomes a no-show.
    NO_SHOW_GRACE_MINUTES = _env_int("NO_SHOW_GRACE_MINUTES", 30)

    # The schedule planner (issue 18): CP-SAT stops after this many seconds with the best
    # proposal found so far (its status then says FEASIBLE, with the gap to the bound); a
    # single client's proposal usually finishes well inside a second. Raise it for large
    # cohorts, lower it where coordinators would rather wait less than get the optimum.
    PROPOSAL_SOLVER_SECONDS = _env_int("PROPOSAL_SOLVER_SECONDS", 10)
    # An unaccepted proposal lapses after this many minutes: seats and times it counted on
    # may be gone by then, so the coordinator suggests a new one.
    PROPOSAL_TTL_MINUTES = _env_int("PROPOSAL_TTL_MINUTES", 60)

    # Need to know (issue 19): a clinician reads the clinical records of the clients whose
    # active plan names them primary therapist, or who are booked into a session they facilitate
    # starting within this many days either side of now (scheduler/services/caseload.py).
    CASELOAD_WINDOW_DAYS = _env_int("CASELOAD_WINDOW_DAYS", 30)
    # Breaking the glass for a client outside the caseload opens their record this long.
    BREAK_GLASS_MINUTES = _env_int("BREAK_GLASS_MINUTES", 60)

    # Outgoing mail (reminders, alerts); the worker refuses to start if it cannot send.
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    # The From address; the From name is always PUBLIC_NAME (a name given here is dropped).
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER") or None
    MAIL_TIMEOUT = _env_int("MAIL_TIMEOUT", 10)

    # Feed links are built on this origin (e.g. https://clinic.example.org) when set; otherwise
    # on the host the request came to.
    FEED_BASE_URL = os.environ.get("FEED_BASE_URL") or None
    # Invitation and password-reset links in emails are built on this origin when set (then on
    # FEED_BASE_URL, then on the host the request came to): set it where the Host header of a
    # request cannot be trusted, or a forged one would put an attacker's site in the email.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL") or None
    # Rendered feeds kept per process, keyed by feed and version.
    FEED_CACHE_SIZE = _env_int("FEED_CACHE_SIZE", 4096)
    # Unknown or revoked feed tokens one address may try before it gets 429s.
    FEED_GUESS_LIMIT = os.environ.get("FEED_GUESS_LIMIT", "30 per minute")
    # Refused FHIR token requests (wrong secret, bad assertion) one address may make before
    # it gets 429s (scheduler/fhir/auth.py); a client that proves itself is always served.
    FHIR_TOKEN_MISS_LIMIT = os.environ.get("FHIR_TOKEN_MISS_LIMIT", "20 per minute")
    # Where rate-limit counters live; memory:// is per process, use redis:// across machines.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Production refuses memory:// unless told that this is the only web process: with two,
    # each keeps its own counts and every limit lets twice the guesses through.
    RATELIMIT_ONE_PROCESS = _env_bool("RATELIMIT_ONE_PROCESS", False)
    # Put before every counter's key, so that installations (or test runs) sharing one Redis
    # keep apart.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "")
    RATELIMIT_HEADERS_ENABLED = True
    # Guesses per minute (Flask-Limiter syntax, ";" between limits). Sign-in counts per
    # address, shared by the page and the token endpoint; check-in and the kiosk count per
    # signed-in account, since a clinic's phones and tablets share one address.
    RATELIMIT_SIGN_IN = os.environ.get("RATELIMIT_SIGN_IN", "10 per minute;100 per hour")
    RATELIMIT_CHECKIN = os.environ.get("RATELIMIT_CHECKIN", "20 per minute")
    RATELIMIT_KIOSK = os.environ.get("RATELIMIT_KIOSK", "60 per minute")
    RATELIMIT_PIN_CHANGE = os.environ.get("RATELIMIT_PIN_CHANGE", "10 per minute;60 per hour")
    # Password-reset requests from one address, page and API together (every one counts).
    RATELIMIT_PASSWORD_RESET = os.environ.get("RATELIMIT_PASSWORD_RESET",
                                              "5 per minute;20 per hour")
    # Reverse proxies in front that set X-Forwarded-For/-Proto. Behind one, set 1: otherwise
    # every caller has the proxy's address and shares one sign-in limit. 0 trusts no header,
    # so a caller cannot pick their own address.
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
    # After this many wrong passwords in a row an account locks, first for LOGIN_LOCK_MINUTES,
    # doubling with each further wrong one up to LOGIN_LOCK_MAX_MINUTES.
    LOGIN_FREE_FAILURES = _env_int("LOGIN_FREE_FAILURES", 5)
    LOGIN_LOCK_MINUTES = _env_int("LOGIN_LOCK_MINUTES", 15)
    LOGIN_LOCK_MAX_MINUTES = _env_int("LOGIN_LOCK_MAX_MINUTES", 24 * 60)
    # Roles that must use two-step sign-in (a code from an authenticator app), comma-separated:
    # they enrol at their next sign-in and can do nothing else until they have. Production
    # requires it of admins and coordinators; empty here means nobody must (anyone may).
    MFA_REQUIRED_ROLES = os.environ.get("MFA_REQUIRED_ROLES", "")
    # The key two-step secrets and recovery codes are derived under; SECRET_KEY when unset.
    # Set it to rotate SECRET_KEY without resetting every enrolled account.
    MFA_SECRET_KEY = os.environ.get("MFA_SECRET_KEY") or None
    # Webhooks (issue 20): the key signing secrets are derived under (SECRET_KEY when unset;
    # set it to rotate SECRET_KEY without changing every receiver's secret), how long a
    # receiver may take to answer, and whether loopback and private addresses may be reached
    # (tests and a laptop only: it opens the door to the clinic's own network).
    WEBHOOK_SECRET_KEY = os.environ.get("WEBHOOK_SECRET_KEY") or None
    WEBHOOK_TIMEOUT_SECONDS = _env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
    WEBHOOK_ALLOW_PRIVATE = _env_bool("WEBHOOK_ALLOW_PRIVATE", False)
    # How long the page sign-in waits for the code after a right password.
    MFA_CODE_STEP_MINUTES = _env_int("MFA_CODE_STEP_MINUTES", 5)

    # Largest request body in bytes; a bigger one is refused with 413 before it is read, so
    # an anonymous caller cannot make a worker hold a huge body. Forms and JSON of a clinic
    # are a few kilobytes.
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 1024 * 1024)

    # What clients see instead of the program's nature (42 CFR Part 2): every page's title and
    # header, the web app manifest (the name under the home-screen icon), the From name and
    # sign-off of every email, and the client feed's name. check_public_name() vets it.
    PUBLIC_NAME = os.environ.get("PUBLIC_NAME") or "Appointments"

    API_TITLE = "IOP Scheduler API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    # Served from our own static folder: clinic networks often block CDNs.
    OPENAPI_SWAGGER_UI_URL = "/static/vendor/swagger-ui/"
    API_SPEC_OPTIONS = {
        "info": {
            "description": "Scheduling for intensive outpatient programs. "
            "Authenticate with `POST /api/v1/auth/token` and send "
            "`Authorization: Bearer <token>`.",
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearerAuth": []}],
    }

    # A signed-in page session lasts about a clinic shift.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=_env_int("SESSION_LIFETIME_HOURS", 10))
    # The cookie is sent again only when the session changes. Re-sent on every response, a
    # stylesheet answered late carried the session from before a form's post and overwrote the
    # newer one: the kiosk's "You are checked in" vanished under load. The idle timeout lives
    # on the server (login_sessions), so nothing needs the cookie refreshed.
    SESSION_REFRESH_EACH_REQUEST = False
    # A staff member's page sign-in ends after this many minutes without a request (HIPAA's
    # automatic logoff); they sign in again. Clients' sign-ins end with the lifetime above.
    SESSION_IDLE_MINUTES = _env_int("SESSION_IDLE_MINUTES", 30)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Off by default so `make run` works over plain http on 127.0.0.1; production forces it.
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # Strict-Transport-Security max-age in seconds; 0 sends none (plain http in development).
    HSTS_MAX_AGE = 0


PUBLIC_NAME_MAX_LENGTH = 60


def check_public_name(config) -> None:
    """Refuse a PUBLIC_NAME that cannot be shown: it goes into email headers (a line break there
    would add headers), page titles and under a home-screen icon."""
    name = config.get("PUBLIC_NAME")
    if not isinstance(name, str) or not name.strip():
        raise RuntimeError("PUBLIC_NAME is empty: set the neutral name clients see, "
                           "e.g. PUBLIC_NAME=Appointments.")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise RuntimeError(f"PUBLIC_NAME={name!r} holds a line break or a control character.")
    if len(name) > PUBLIC_NAME_MAX_LENGTH:
        raise RuntimeError(f"PUBLIC_NAME is {len(name)} characters long; at most "
                           f"{PUBLIC_NAME_MAX_LENGTH} fit a page title or a phone's home screen.")


class DevelopmentConfig(Config):
    DEBUG = False
    SCHEDULER_EMBEDDED = _env_bool("SCHEDULER_EMBEDDED", True)


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"
    SQLALCHEMY_DATABASE_URI = normalize_database_url(
        os.environ.get("TEST_DATABASE_URL")
    ) or "sqlite://"
    SCHEDULER_EMBEDDED = False
    # The suite signs in thousands of times; scrypt would make that minutes (Django's test
    # settings swap in a fast hasher for the same reason). tests/test_security.py checks that
    # production refuses this.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    # Nobody must use two-step sign-in unless a test says so (tests/test_mfa.py).
    MFA_REQUIRED_ROLES = ""
    # The test clinics are tiny; a short limit keeps a proposal test fast even where the
    # solver cannot prove its answer optimal.
    PROPOSAL_SOLVER_SECONDS = 2


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    HSTS_MAX_AGE = _env_int("HSTS_MAX_AGE", 365 * 24 * 3600)
    MFA_REQUIRED_ROLES = os.environ.get("MFA_REQUIRED_ROLES", "admin,coordinator")

    @classmethod
    def check(cls, config) -> None:
        """Refuse to start a production app that would run on defaults."""
        missing = [k for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY") if not config.get(k)]
        if missing:
            names = {"SQLALCHEMY_DATABASE_URI": "DATABASE_URL", "SECRET_KEY": "SECRET_KEY"}
            raise RuntimeError(
                "Production configuration needs "
                + " and ".join(names[m] for m in missing)
                + " set in the environment."
            )
        method = str(config.get("PASSWORD_HASH_METHOD") or "")
        if method.split(":")[0] != "scrypt":
            raise RuntimeError(
                f"Production hashes passwords with scrypt; PASSWORD_HASH_METHOD={method!r} is "
                "meant for tests only."
            )
        storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
        if storage.startswith("memory://") and not config.get("RATELIMIT_ONE_PROCESS"):
            raise RuntimeError(
                "Production keeps rate-limit counts in memory (RATELIMIT_STORAGE_URI=memory://), "
                "where each web process counts apart and every limit lets through as many "
                "more guesses as there are processes. Set RATELIMIT_STORAGE_URI=redis://… to "
                "share the counts, or RATELIMIT_ONE_PROCESS=true if this is the only process."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
