"""Django settings. Every value that varies comes from the environment via
``backend.config.read_config``; see README "Configuration"."""

import os

from backend.config import BASE_DIR, read_config  # noqa: F401 (settings.BASE_DIR)
from backend.core.limits import JSON_BODY_MAX_BYTES
from backend.ops.logs import logging_config

CONFIG = read_config(os.environ)

DJANGO_ENV = CONFIG.environment
DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = CONFIG.allowed_hosts
DATA_DIR = CONFIG.data_dir

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",
    "backend.core",
    "backend.territory",
    "backend.accounts",
    "backend.events",
    "backend.addresses",
    "backend.patrols",
    "backend.privacy",
    "backend.administration",
    "backend.residents",
    "backend.tips",
    "backend.open311",
    "backend.care",
    "backend.intake",
    "backend.ops",
    "backend.stats",
    "push",
    "media",
    "sync",
    "backend.console",
]

MIDDLEWARE = [
    "backend.ops.middleware.RequestIdMetricsMiddleware",  # first: the request id, the access log, metrics
    "django.middleware.security.SecurityMiddleware",
    "backend.core.middleware.ApiErrorShapeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "backend.core.middleware.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": CONFIG.database}
if CONFIG.database_is_sqlite:
    # WAL lets the supervision thread and request threads read while one writes.
    # IMMEDIATE: a transaction takes the write lock when it begins, so two writers wait
    # for each other (timeout) instead of one failing "database is locked" when its
    # read lock cannot be upgraded (phones pushing at once).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    )
if CONFIG.replica_database:
    # Reads that may lag go to the streaming replica; the rule is backend/core/db_router.py.
    DATABASES["replica"] = CONFIG.replica_database
    DATABASE_ROUTERS = ["backend.core.db_router.PrimaryReplicaRouter"]
    MIDDLEWARE.append("backend.core.db_router.pin_after_write")
DATABASE_REPLICA_PIN_SECONDS = CONFIG.replica_pin_seconds
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

if CONFIG.redis_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CONFIG.redis_url}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Several servers (CHANNEL_REDIS_URLS): channels-redis shards channels and groups
            # over them by a hash of the name; every process must list them in the same order.
            "CONFIG": {"hosts": CONFIG.channel_redis_urls, "group_expiry": 86400},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# The admin's CSS and JS are served by WhiteNoise in every layout; in development
# straight from the apps (no collectstatic needed for `make run`).
WHITENOISE_USE_FINDERS = DJANGO_ENV != "production"
if WHITENOISE_USE_FINDERS:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on a missing root
MEDIA_ROOT = DATA_DIR / "media"  # private: never served directly, only through signed URLs
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(MEDIA_ROOT)}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if CONFIG.s3_bucket:
    # S3-compatible object storage (django-storages): a private bucket, never overwrite;
    # credentials come from the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CONFIG.s3_bucket,
            "endpoint_url": CONFIG.s3_endpoint_url or None,
            "region_name": CONFIG.s3_region or None,
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
MEDIA_DECODE_IN_POOL = CONFIG.media_decode_in_pool
MEDIA_DECODE_SLOTS = CONFIG.media_decode_slots
# Uploads above this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# A JSON body above this answers 413 (docs/limits.md); nginx refuses the same size first.
DATA_UPLOAD_MAX_MEMORY_SIZE = JSON_BODY_MAX_BYTES

JWT = {
    "KEYS": CONFIG.jwt_keys,
    "ALGORITHM": "HS256",
    "ISSUER": CONFIG.jwt_issuer,
    "AUDIENCE": CONFIG.jwt_audience,
    "ACCESS_MINUTES": CONFIG.access_token_minutes,
    "REFRESH_DAYS": CONFIG.refresh_token_days,
}
FCM_CREDENTIALS_FILE = CONFIG.fcm_credentials_file
WORKING_HOURS = CONFIG.working_hours
STATS_FACTS = CONFIG.stats_facts  # backend/stats: keep the KPIs' facts as events change
SUPERVISION = {
    "GRACE_HOURS": CONFIG.supervision_grace_hours,
    "INTERVAL_SECONDS": CONFIG.supervision_interval_seconds,
    "EVIDENCE_WAIT_HOURS": CONFIG.evidence_wait_hours,
}
# Behind our reverse proxy (docker/nginx.conf) the client's address is the last one the
# proxy appended to X-Forwarded-For; never trust the header without a proxy in front.
TRUST_X_FORWARDED_FOR = CONFIG.trust_x_forwarded_for
LOGIN_LIMITS = {  # backend/accounts/ratelimit.py
    "PER_ACCOUNT": CONFIG.login_failures_per_account,
    "PER_ADDRESS": CONFIG.login_failures_per_address,
    "PER_CLIENT": CONFIG.login_failures_per_client,
    "PER_DEVICE": CONFIG.login_failures_per_device,
    "WINDOW_SECONDS": CONFIG.login_window_seconds,
}
# Residents' sign-in by SMS code (backend/residents, docs/residents.md).
PRIVACY_NOTICE_VERSION = CONFIG.privacy_notice_version
SMS = CONFIG.sms
SIGNIN_LIMITS = CONFIG.signin_limits
TIPS = {"ANONYMOUS_PER_HOUR": CONFIG.tips_anonymous_per_hour}  # backend/tips/services.py

if CONFIG.is_production:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = logging_config(level=CONFIG.log_level, json_lines=CONFIG.log_json)

# /metrics: Prometheus scrapes with this bearer token (admin staff may look in a browser).
METRICS_TOKEN = CONFIG.metrics_token
WORKER_METRICS_PORT = CONFIG.worker_metrics_port  # 0: the worker serves no metrics of its own
WORKER_METRICS_ADDRESS = CONFIG.worker_metrics_address
RETENTION = {
    "PATROL_TRACK_DAYS": CONFIG.retention_patrol_track_days,
    "ACCESS_LOG_DAYS": CONFIG.retention_access_log_days,
    "TOMBSTONE_DAYS": CONFIG.retention_tombstone_days,
}
if CONFIG.sentry_dsn:
    # Errors (and a sample of traces when asked) to Sentry; no personal data leaves.
    import sentry_sdk

    sentry_sdk.init(
        dsn=CONFIG.sentry_dsn,
        environment=CONFIG.environment,
        send_default_pii=False,
        traces_sample_rate=CONFIG.sentry_traces_sample_rate,
    )
