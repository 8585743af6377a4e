"""Settings from the environment, with clear errors for bad values.

Healthchecks-style: every variable is read through a typed helper that raises
``ImproperlyConfigured`` naming the variable and what it expected. ``read_config``
takes the environment as a mapping so tests can feed it anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# Development defaults. Production refuses to run while any of them is in force.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
DEV_DATABASE_URL = f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"

ENVIRONMENTS = ("development", "test", "production")
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected one of true/false, yes/no, on/off, 1/0")


def env_int(
    environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        if maximum is None:
            raise ImproperlyConfigured(f"{name}={value}: expected a number of at least {minimum}")
        raise ImproperlyConfigured(f"{name}={value}: expected a number between {minimum} and {maximum}")
    return value


def env_list(environ: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = environ.get(name, default).strip().lower()
    if raw not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_log_level(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().upper() not in LOG_LEVELS:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected one of {', '.join(LOG_LEVELS)}")
    return raw.strip().upper()


def env_name(environ: Mapping[str, str], name: str, default: str) -> str:
    """A name that goes into tokens as it is (issuer, audience): blank or padded is a mistake."""
    raw = environ.get(name)
    if raw is None:
        return default
    if not raw.strip() or raw != raw.strip():
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a name without spaces around it")
    return raw


def env_secret(environ: Mapping[str, str], name: str) -> str:
    """A bearer secret: unset or at least 24 characters (a short one is guessed)."""
    raw = environ.get(name, "").strip()
    if raw and len(raw) < 24:
        raise ImproperlyConfigured(f"{name}: expected at least 24 characters")
    return raw


def env_sentry_dsn(environ: Mapping[str, str]) -> str:
    raw = environ.get("SENTRY_DSN", "").strip()
    if raw and not raw.startswith(("https://", "http://")):
        raise ImproperlyConfigured("SENTRY_DSN: expected the DSN Sentry gives, https://KEY@HOST/PROJECT")
    return raw


def env_fraction(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number between 0 and 1")
    return value


def env_page_cost(environ: Mapping[str, str], name: str, default: float) -> float | None:
    """A planner cost (a positive number), or None for "the server's own" (``server``)."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip() == "server":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a positive number or 'server'") from None
    if not 0.0 < value <= 100.0:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a positive number up to 100, or 'server'")
    return value


def parse_jwt_keys(raw: str) -> dict[str, str]:
    """``kid1:secret1,kid2:secret2`` -> ordered dict; the first key signs, all verify."""
    keys: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, secret = item.partition(":")
        if not sep or not kid.strip() or len(secret) < 32:
            raise ImproperlyConfigured(
                "JWT_KEYS: expected 'kid:secret' pairs separated by commas, each secret at least 32 characters"
            )
        keys[kid.strip()] = secret
    if not keys:
        raise ImproperlyConfigured("JWT_KEYS: no key given")
    return keys


def fcm_credentials(environ: Mapping[str, str]) -> str:
    """Path of a Firebase service-account JSON file; empty means the fake sender."""
    path = environ.get("FCM_CREDENTIALS_FILE", "").strip()
    if path and not Path(path).is_file():
        raise ImproperlyConfigured(f"FCM_CREDENTIALS_FILE={path!r}: no such file")
    return path


def parse_working_hours(raw: str) -> tuple:
    """``08:30-12:00,13:30-17:30`` -> ((time, time), ...), ordered and not overlapping."""
    from datetime import time

    periods = []
    try:
        for item in raw.split(","):
            start_text, end_text = item.strip().split("-")
            start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
            periods.append((start, end))
    except ValueError:
        raise ImproperlyConfigured(f"WORKING_HOURS={raw!r}: expected periods like 08:30-12:00,13:30-17:30") from None
    for index, (start, end) in enumerate(periods):
        if end <= start or (index and start < periods[index - 1][1]):
            raise ImproperlyConfigured(f"WORKING_HOURS={raw!r}: periods must be ordered and not overlap")
    if not periods:
        raise ImproperlyConfigured("WORKING_HOURS: no period given")
    return tuple(periods)


@dataclass(frozen=True)
class Config:
    environment: str
    debug: bool
    secret_key: str
    allowed_hosts: list[str]
    database: dict
    database_is_sqlite: bool
    redis_url: str | None
    jwt_keys: dict[str, str]
    jwt_issuer: str
    jwt_audience: str
    access_token_minutes: int
    refresh_token_days: int
    data_dir: Path
    login_failures_per_account: int
    login_failures_per_address: int
    login_failures_per_client: int
    login_failures_per_device: int
    login_window_seconds: int
    tips_anonymous_per_hour: int
    working_hours: tuple
    supervision_grace_hours: int
    supervision_interval_seconds: int
    evidence_wait_hours: int
    fcm_credentials_file: str
    s3_bucket: str
    trust_x_forwarded_for: bool
    media_decode_slots: int
    s3_endpoint_url: str
    s3_region: str
    media_decode_in_pool: bool = False
    log_level: str = "INFO"
    # Residents' sign-in by SMS code (backend/residents, docs/residents.md).
    privacy_notice_version: str = "2026-12-01"
    sms: dict = field(default_factory=dict)
    signin_limits: dict = field(default_factory=dict)
    log_json: bool = False
    metrics_token: str = ""
    sentry_dsn: str = ""
    sentry_traces_sample_rate: float = 0.0
    worker_metrics_port: int = 0
    retention_patrol_track_days: int = 365
    retention_access_log_days: int = 1095
    retention_tombstone_days: int = 30
    worker_metrics_address: str = "127.0.0.1"
    stats_facts: bool = True
    # Beyond one machine (docs/operations.md "Scale"): a streaming replica for reads that
    # may lag (backend/core/db_router.py), and the channel layer's Redis servers.
    replica_database: dict | None = None
    replica_pin_seconds: int = 10
    channel_redis_urls: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def read_config(environ: Mapping[str, str]) -> Config:
    environment = env_choice(environ, "DJANGO_ENV", "development", ENVIRONMENTS)
    production = environment == "production"
    debug = env_bool(environ, "DEBUG", default=not production)
    secret_key = environ.get("SECRET_KEY", DEV_SECRET_KEY)
    database_url = environ.get("DATABASE_URL", DEV_DATABASE_URL)
    try:
        database = dj_database_url.parse(database_url, conn_max_age=env_int(environ, "DB_CONN_MAX_AGE", 60))
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL: {error}") from None
    engine = database.get("ENGINE", "")
    if engine not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL: only sqlite:// and postgres:// are supported, got {engine or database_url!r}"
        )
    is_sqlite = engine == "django.db.backends.sqlite3"
    if not is_sqlite and env_bool(environ, "DB_PREPARED_STATEMENTS", True):
        # The few statements run by backend.fastpath.statements.run_prepared are prepared once
        # per connection and run by their generic plan from the first call. Django's own
        # go through client-side cursors, which psycopg never prepares. Off (false) for a
        # pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction
        # mode): then those statements are planned on every call.
        options = database.setdefault("OPTIONS", {})
        options.setdefault("prepare_threshold", 5)
        options["options"] = f"{options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
    page_cost = env_page_cost(environ, "DB_RANDOM_PAGE_COST", 1.1)
    if not is_sqlite and page_cost is not None:
        # PostgreSQL's default (4) prices a random page read as a spinning disk does, so a
        # text search over a common word chose to scan the table (33 ms) over its trigram
        # indexes (6 ms). 1.1 is the usual value for SSDs or data held in memory; ``server``
        # keeps the server's own setting.
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c random_page_cost={page_cost:g}".strip()
    pool_size = env_int(environ, "DB_POOL_SIZE", 0, maximum=100)
    if pool_size:
        # Under ASGI (daphne; backend/asgi.py sets this) every request runs on a thread of
        # its own, and a connection kept for the next request on that thread is never seen
        # again: kept connections piled up, one a request, until PostgreSQL refused more.
        # A pool hands each request a connection and takes it back when the request ends.
        database["CONN_MAX_AGE"] = 0
        if not is_sqlite:  # SQLite has no pool; opening its file for each request is cheap
            database.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
    redis_url = environ.get("REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"REDIS_URL={redis_url!r}: expected redis://host:port/db")
    replica_database = None
    if environ.get("DATABASE_REPLICA_URL"):
        if is_sqlite:
            raise ImproperlyConfigured("DATABASE_REPLICA_URL: a replica needs a PostgreSQL DATABASE_URL")
        try:
            replica_database = dj_database_url.parse(
                environ["DATABASE_REPLICA_URL"], conn_max_age=database.get("CONN_MAX_AGE", 60)
            )
        except ValueError as error:
            raise ImproperlyConfigured(f"DATABASE_REPLICA_URL: {error}") from None
        if replica_database.get("ENGINE") != "django.db.backends.postgresql":
            raise ImproperlyConfigured("DATABASE_REPLICA_URL: expected postgres://…")
        # The same options (prepared statements' plan mode, the pool) as the primary's.
        replica_database["OPTIONS"] = {**database.get("OPTIONS", {}), **replica_database.get("OPTIONS", {})}
        replica_database["CONN_MAX_AGE"] = database.get("CONN_MAX_AGE", 60)
        replica_database["TEST"] = {"MIRROR": "default"}  # test runs read their own writes
    channel_redis_urls = env_list(environ, "CHANNEL_REDIS_URLS", [redis_url] if redis_url else [])
    for url in channel_redis_urls:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ImproperlyConfigured(f"CHANNEL_REDIS_URLS: {url!r}: expected redis://host:port/db")
    if channel_redis_urls and not redis_url:
        raise ImproperlyConfigured("CHANNEL_REDIS_URLS needs REDIS_URL too (the cache and the rate limits)")
    jwt_keys = parse_jwt_keys(environ["JWT_KEYS"]) if environ.get("JWT_KEYS") else {"dev": "jwt:" + secret_key}
    data_dir = Path(environ.get("DATA_DIR", str(BASE_DIR / "var")))

    config = Config(
        environment=environment,
        debug=debug,
        secret_key=secret_key,
        allowed_hosts=env_list(
            environ, "ALLOWED_HOSTS", [] if production else ["127.0.0.1", "localhost", "testserver"]
        ),
        database=database,
        database_is_sqlite=is_sqlite,
        redis_url=redis_url,
        jwt_keys=jwt_keys,
        jwt_issuer=env_name(environ, "JWT_ISSUER", "grid-governance"),
        jwt_audience=env_name(environ, "JWT_AUDIENCE", "grid-governance-api"),
        access_token_minutes=env_int(environ, "ACCESS_TOKEN_MINUTES", 10, minimum=1, maximum=60),
        refresh_token_days=env_int(environ, "REFRESH_TOKEN_DAYS", 30, minimum=1, maximum=365),
        data_dir=data_dir,
        # Login limits by account and client (backend/accounts/ratelimit.py, docs/accounts.md).
        login_failures_per_account=env_int(environ, "LOGIN_FAILURES_PER_ACCOUNT", 20, minimum=1),
        login_failures_per_address=env_int(environ, "LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1),
        login_failures_per_client=env_int(environ, "LOGIN_FAILURES_PER_CLIENT", 5, minimum=1),
        login_failures_per_device=env_int(environ, "LOGIN_FAILURES_PER_DEVICE", 5, minimum=1),
        login_window_seconds=env_int(environ, "LOGIN_WINDOW_SECONDS", 900, minimum=1),
        tips_anonymous_per_hour=env_int(environ, "TIPS_ANONYMOUS_PER_HOUR", 10, minimum=1),
        working_hours=parse_working_hours(environ.get("WORKING_HOURS", "08:30-12:00,13:30-17:30")),
        supervision_grace_hours=env_int(environ, "SUPERVISION_GRACE_HOURS", 24, minimum=1),
        supervision_interval_seconds=env_int(environ, "SUPERVISION_INTERVAL_SECONDS", 60, minimum=1),
        # How long a report or a handle waits for the photos it claims before it goes to the
        # secretary without them (a phone may be offline for a day in the hills; a month is a mistake).
        evidence_wait_hours=env_int(environ, "EVIDENCE_WAIT_HOURS", 24, minimum=1, maximum=720),
        fcm_credentials_file=fcm_credentials(environ),
        s3_bucket=environ.get("S3_BUCKET", "").strip(),
        trust_x_forwarded_for=env_bool(environ, "TRUST_X_FORWARDED_FOR", False),
        # Half the cores decode photos at most: the rest serve everything else, and memory stays bounded.
        media_decode_slots=env_int(
            environ, "MEDIA_DECODE_SLOTS", max(1, (os.cpu_count() or 2) // 2), minimum=1, maximum=64
        ),
        s3_endpoint_url=environ.get("S3_ENDPOINT_URL", "").strip(),
        s3_region=environ.get("S3_REGION", "").strip(),
        # Decoding untrusted images happens in worker processes in production.
        media_decode_in_pool=env_bool(environ, "MEDIA_DECODE_IN_POOL", production),
        log_level=env_log_level(environ, "LOG_LEVEL", "INFO"),
        privacy_notice_version=env_name(environ, "PRIVACY_NOTICE_VERSION", "2026-12-01"),
        sms=read_sms(environ),
        signin_limits={
            "CODES_PER_NUMBER": env_int(environ, "SIGNIN_CODES_PER_NUMBER", 5, minimum=1),
            "CODES_PER_ADDRESS": env_int(environ, "SIGNIN_CODES_PER_ADDRESS", 20, minimum=1),
            "CODES_PER_DEVICE": env_int(environ, "SIGNIN_CODES_PER_DEVICE", 5, minimum=1),
            "WINDOW_SECONDS": env_int(environ, "SIGNIN_WINDOW_SECONDS", 3600, minimum=60, maximum=86400),
            "RESEND_SECONDS": env_int(environ, "SIGNIN_RESEND_SECONDS", 60, minimum=1, maximum=3600),
            "ATTEMPTS_PER_CODE": env_int(environ, "SIGNIN_ATTEMPTS_PER_CODE", 5, minimum=1, maximum=20),
        },
        # One JSON object a line for the log collector in production; readable text elsewhere.
        log_json=env_choice(environ, "LOG_FORMAT", "json" if production else "text", ("json", "text")) == "json",
        metrics_token=env_secret(environ, "METRICS_TOKEN"),
        sentry_dsn=env_sentry_dsn(environ),
        sentry_traces_sample_rate=env_fraction(environ, "SENTRY_TRACES_SAMPLE_RATE", 0.0),
        # Retention (backend/ops/retention.py): the purge never takes what a phone or an open case needs.
        retention_patrol_track_days=env_int(environ, "RETENTION_PATROL_TRACK_DAYS", 365, minimum=1),
        retention_access_log_days=env_int(environ, "RETENTION_ACCESS_LOG_DAYS", 1095, minimum=180),
        retention_tombstone_days=env_int(environ, "RETENTION_TOMBSTONE_DAYS", 30, minimum=1),
        worker_metrics_port=env_int(environ, "WORKER_METRICS_PORT", 0, maximum=65535),
        worker_metrics_address=environ.get("WORKER_METRICS_ADDRESS", "127.0.0.1").strip() or "127.0.0.1",
        # The KPIs' facts kept as events change (backend/stats; docs/kpis.md). Off only to
        # measure what keeping them costs (make bench BENCH=kpis).
        stats_facts=env_bool(environ, "STATS_FACTS", True),
        replica_database=replica_database,
        replica_pin_seconds=env_int(environ, "DATABASE_REPLICA_PIN_SECONDS", 10, minimum=0, maximum=3600),
        channel_redis_urls=channel_redis_urls,
    )
    if production:
        refuse_development_defaults(config, environ)
    return config


SMS_BACKENDS = ("console", "tencent")


def read_sms(environ: Mapping[str, str]) -> dict:
    """``SMS_BACKEND``: ``console`` (the default: the code goes to the log and the admin) or
    ``tencent`` (Tencent Cloud SMS through its SDK, with every setting below required)."""
    backend = env_choice(environ, "SMS_BACKEND", "console", SMS_BACKENDS)
    sms = {
        "BACKEND": backend,
        "SECRET_ID": environ.get("SMS_SECRET_ID", "").strip(),
        "SECRET_KEY": environ.get("SMS_SECRET_KEY", "").strip(),
        "APP_ID": environ.get("SMS_APP_ID", "").strip(),
        "SIGN_NAME": environ.get("SMS_SIGN_NAME", "").strip(),
        "TEMPLATE_ID": environ.get("SMS_TEMPLATE_ID", "").strip(),
        "REGION": environ.get("SMS_REGION", "ap-guangzhou").strip(),
        # Where the SDK sends its requests: the provider's host, or a stand-in for tests
        # (``http://127.0.0.1:8111`` — a scheme chooses http or https).
        "ENDPOINT": environ.get("SMS_ENDPOINT", "sms.tencentcloudapi.com").strip(),
        "TIMEOUT_SECONDS": env_int(environ, "SMS_TIMEOUT_SECONDS", 10, minimum=1, maximum=60),
    }
    if backend == "tencent":
        missing = [
            f"SMS_{name}" for name in ("SECRET_ID", "SECRET_KEY", "APP_ID", "SIGN_NAME", "TEMPLATE_ID") if not sms[name]
        ]
        if missing:
            raise ImproperlyConfigured(f"SMS_BACKEND=tencent needs {', '.join(missing)}")
    return sms


def refuse_development_defaults(config: Config, environ: Mapping[str, str]) -> None:
    problems = []
    if config.debug:
        problems.append("DEBUG is on")
    if config.secret_key == DEV_SECRET_KEY or len(config.secret_key) < 32:
        problems.append("SECRET_KEY is the development default or shorter than 32 characters")
    if "JWT_KEYS" not in environ:
        problems.append("JWT_KEYS is not set")
    if config.database_is_sqlite and not env_bool(environ, "ALLOW_SQLITE_IN_PRODUCTION", False):
        problems.append("the database is SQLite (set ALLOW_SQLITE_IN_PRODUCTION=true if you mean it)")
    if not config.allowed_hosts or "*" in config.allowed_hosts:
        problems.append("ALLOWED_HOSTS is empty or '*'")
    if not config.redis_url:
        problems.append("REDIS_URL is not set (the channel layer and rate limits must be shared between processes)")
    if config.sms["BACKEND"] == "console" and not env_bool(environ, "ALLOW_CONSOLE_SMS_IN_PRODUCTION", False):
        problems.append(
            "SMS_BACKEND is console: residents' sign-in codes would be written to the log "
            "(set SMS_BACKEND=tencent, or ALLOW_CONSOLE_SMS_IN_PRODUCTION=true if residents do not sign in)"
        )
    if problems:
        raise ImproperlyConfigured("Refusing to run in production mode: " + "; ".join(problems) + ".")
