"""proxmon settings: everything comes from environment variables (see README "Configuration").

Defaults make a fresh clone run on SQLite. Production (DEBUG off) refuses to start without a
real SECRET_KEY.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from proxmon import env

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.boolean("DEBUG", False)

# The key scripts/run writes on its first start: found here too, so that manage.py commands
# run after it (add_host, changepassword) need no SECRET_KEY_FILE of their own. Used only when
# neither SECRET_KEY nor SECRET_KEY_FILE is set (SECRET_KEY_FILE= set empty: not at all).
LOCAL_SECRET_KEY_FILE = BASE_DIR / "var" / "secret_key"
SECRET_KEY = env.string("SECRET_KEY")
if not SECRET_KEY and "SECRET_KEY_FILE" not in os.environ and LOCAL_SECRET_KEY_FILE.is_file():
    SECRET_KEY = LOCAL_SECRET_KEY_FILE.read_text(encoding="utf-8").strip()
    if not SECRET_KEY and not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and {LOCAL_SECRET_KEY_FILE} is empty. Put the key the server "
            "ran with back in that file, or set SECRET_KEY (or SECRET_KEY_FILE)."
        )
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY or SECRET_KEY_FILE to the key this server "
            f"runs with (scripts/run keeps one in {LOCAL_SECRET_KEY_FILE}); only for a new "
            "installation make one: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "insecure-development-key-only-for-debug-mode"

ALLOWED_HOSTS = env.strings("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env.strings("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "proxmon",  # system checks of the settings (proxmon/checks.py)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "hosts",
    "metrics",
    "alerts",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "proxmon.urls"
ASGI_APPLICATION = "proxmon.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env.database_url("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    _database = dj_database_url.parse(DATABASE_URL)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from exc
# Reuse connections for a minute: the agent consumer writes every few milliseconds, and opening
# a connection (SQLite: with its PRAGMAs) for each sample costs more than storing it.
_database["CONN_MAX_AGE"] = env.integer("PROXMON_DB_CONN_MAX_AGE", 60)
_database["CONN_HEALTH_CHECKS"] = True
# Read (and checked) whatever the engine, so a bad value is refused the same way everywhere.
_sqlite_busy_timeout = env.number("PROXMON_SQLITE_BUSY_TIMEOUT_S", 20.0, minimum=1.0)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["OPTIONS"] = {
        # WAL lets the pages read while the agent consumer writes; synchronous=FULL because an
        # ack promises the sample is durable. IMMEDIATE takes the write lock at BEGIN, so two
        # writers wait on the busy timeout instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
        "transaction_mode": "IMMEDIATE",
        "timeout": _sqlite_busy_timeout,
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------
REDIS_URL = env.string("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "proxmon.layers.RedisChannelLayer",
            # the prefix keeps several proxmon installations (or test runs) on one Redis apart
            "CONFIG": {
                # redis-py 8's defaults do not fit channels_redis under load: a 5 s socket
                # timeout equal to channels_redis's 5 s BZPOPMIN (receives then fail with
                # "Timeout reading from ..."), and a pool of 100 connections that raises "Too
                # many connections" instead of waiting, which a few hundred agents joining at
                # once reach. Options in the URL's query string (?socket_timeout=...) win.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "max_connections": env.integer("PROXMON_REDIS_CONNECTIONS", 2000),
                    }
                ],
                "prefix": env.string("PROXMON_REDIS_PREFIX", "proxmon"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "proxmon.layers.InMemoryChannelLayer"}}

# --- Passwords and sessions ----------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# Behind Caddy (or any TLS-terminating proxy) the site is HTTPS: secure cookies, HSTS, redirect.
# PROXMON_HTTPS=0 is for a local trial on http://127.0.0.1:8000 only.
HTTPS = env.boolean("PROXMON_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.boolean("PROXMON_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.integer("PROXMON_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("PROXMON_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.boolean("PROXMON_HSTS_PRELOAD", False)
# Submitting a domain to the browsers' HSTS preload list is the operator's decision for the
# whole domain, not this app's: don't warn about it.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.string("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

# WhiteNoise serves static files straight from the apps' and static/ folders (finders), so
# no collectstatic step is needed; PROXMON_STATIC_ROOT is for those who want one anyway.
STATIC_URL = "static/"
STATIC_ROOT = env.string("PROXMON_STATIC_ROOT") or None
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"text": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "text"}},
    "root": {"handlers": ["console"], "level": env.string("PROXMON_LOG_LEVEL", "INFO")},
    # Debug lines of Apprise and urllib3 carry channel URLs, which hold secrets (webhook tokens
    # in the path): never below INFO and WARNING. Apprise's words reach the log through
    # alerts.sender, with the URL's secrets cut out.
    "loggers": {
        "apprise": {"level": "INFO", "propagate": False},
        "urllib3": {"level": "WARNING"},
    },
}

# --- proxmon --------------------------------------------------------------------------------
# bcrypt cost for agent tokens. Tokens carry 256 random bits, so guessing is hopeless at any
# cost and the hash only has to keep a stolen database from yielding usable tokens. Cost 5 is
# ~2 ms per check on one core here: a restart with 1,000 agents reconnecting costs ~2 CPU
# seconds of hashing instead of ~60 at bcrypt's default of 12.
PROXMON_TOKEN_BCRYPT_ROUNDS = env.integer("PROXMON_TOKEN_BCRYPT_ROUNDS", 5, minimum=4)
# Hours of raw samples to keep; older ones are pruned hourly by the server.
PROXMON_RETENTION_HOURS = env.integer("PROXMON_RETENTION_HOURS", 48, minimum=1)
PROXMON_PRUNE_INTERVAL_S = env.integer("PROXMON_PRUNE_INTERVAL_S", 3600, minimum=1)
PROXMON_PRUNE_CHUNK = env.integer("PROXMON_PRUNE_CHUNK", 1000, minimum=1)
# Seconds the pruner waits between chunks, so that ingest waiting for SQLite's lock gets in.
PROXMON_PRUNE_PAUSE_S = env.number("PROXMON_PRUNE_PAUSE_S", 0.1)
# Largest frame an agent may send; larger frames close the connection with 1009.
PROXMON_MAX_FRAME_BYTES = env.integer("PROXMON_MAX_FRAME_BYTES", 8 * 1024 * 1024, minimum=1024)
# Seconds an agent has to send its join frame (4408 after that).
PROXMON_JOIN_TIMEOUT_S = env.number("PROXMON_JOIN_TIMEOUT_S", 10.0, minimum=0.1)
# Failed joins allowed per client address and host name in a minute before 4429, and per
# address whatever the names (metrics/limits.py: one failing agent behind a NAT address does
# not lock the others out; spraying names from one address is still cut off).
PROXMON_JOIN_FAILURES_PER_MINUTE = env.integer("PROXMON_JOIN_FAILURES_PER_MINUTE", 5, minimum=1)
PROXMON_JOIN_FAILURES_PER_ADDRESS = env.integer("PROXMON_JOIN_FAILURES_PER_ADDRESS", 50, minimum=1)
# Failed web logins (/login/ and /admin/login/) allowed per address and user name in a minute
# before 429, and per address whatever the names.
PROXMON_LOGIN_FAILURES_PER_MINUTE = env.integer("PROXMON_LOGIN_FAILURES_PER_MINUTE", 5, minimum=1)
PROXMON_LOGIN_FAILURES_PER_ADDRESS = env.integer(
    "PROXMON_LOGIN_FAILURES_PER_ADDRESS", 50, minimum=1
)
# Peers whose X-Forwarded-For is believed (addresses or networks), e.g. the Caddy in front.
PROXMON_TRUSTED_PROXIES = env.strings("PROXMON_TRUSTED_PROXIES", "127.0.0.1,::1")
# WebSocket keepalive (metrics/management/commands/serve.py): a ping after this many seconds
# in which nothing arrived; nothing for PROXMON_PING_INTERVAL_S + PROXMON_PING_TIMEOUT_S
# (20 + 40 = 60 s) drops the connection and the host is offline.
PROXMON_PING_INTERVAL_S = env.number("PROXMON_PING_INTERVAL_S", 20.0, minimum=0.1)
PROXMON_PING_TIMEOUT_S = env.number("PROXMON_PING_TIMEOUT_S", 40.0, minimum=0.1)
# How often a live connection re-reads its host (token revoked from a shell, replaced by a
# connection on another server process) when no channel-layer message told it already.
PROXMON_CONNECTION_CHECK_S = env.number("PROXMON_CONNECTION_CHECK_S", 20.0, minimum=0.1)
# How often each server process polls for revocations and deletions (Kick rows, one query on
# the primary key): a token revoked from a shell closes its agent within this, on any layer.
PROXMON_KICK_POLL_S = env.number("PROXMON_KICK_POLL_S", 0.5, minimum=0.05)
# Server processes write a heartbeat; a process silent this long is dead and its hosts offline.
PROXMON_HEARTBEAT_S = env.number("PROXMON_HEARTBEAT_S", 15.0, minimum=0.1)
PROXMON_PROCESS_DEAD_AFTER_S = env.number("PROXMON_PROCESS_DEAD_AFTER_S", 60.0, minimum=1.0)
# Under a plain ASGI server, start the heartbeat and hourly pruning with the first agent
# connection (`manage.py serve` always starts them). Off in in-process tests, which drive
# those functions directly.
PROXMON_BACKGROUND = env.boolean("PROXMON_BACKGROUND", True)
# Where `manage.py serve` listens unless --bind / --port say otherwise.
PROXMON_BIND = env.string("PROXMON_BIND", "127.0.0.1")
PROXMON_PORT = env.integer("PROXMON_PORT", 8000, minimum=1, maximum=65535)
# The account `manage.py ensure_admin` creates when there is none; no password: one is made
# and printed once.
PROXMON_ADMIN_USER = env.string("PROXMON_ADMIN_USER", "admin")
PROXMON_ADMIN_PASSWORD = env.string("PROXMON_ADMIN_PASSWORD")
# Public URL of this server as agents reach it (https://monitor.example.com); used in the
# install steps. Empty: derived from the request. Checked at start (proxmon/checks.py).
PROXMON_PUBLIC_URL = env.string("PROXMON_PUBLIC_URL").rstrip("/")
# The agent binary this server hands out at /agent/proxmon-agent for the one-line install
# (hosts/downloads.py): what scripts/build-agent makes. Missing, that URL answers 404 saying so.
PROXMON_AGENT_BINARY = Path(
    env.string("PROXMON_AGENT_BINARY") or BASE_DIR / "dist" / "proxmon-agent"
).absolute()

# --- status lights (metrics/status.py); DESIGN.md "Status of a host" ---------------------------
PROXMON_STATUS_POOL_CRITICAL_PCT = env.number(
    "PROXMON_STATUS_POOL_CRITICAL_PCT", 90.0, maximum=100.0
)
PROXMON_STATUS_POOL_WARNING_PCT = env.number("PROXMON_STATUS_POOL_WARNING_PCT", 80.0, maximum=100.0)
PROXMON_STATUS_SCRUB_MAX_AGE_DAYS = env.number("PROXMON_STATUS_SCRUB_MAX_AGE_DAYS", 35.0)
PROXMON_STATUS_SNAPSHOT_NEWEST_MAX_AGE_DAYS = env.number(
    "PROXMON_STATUS_SNAPSHOT_NEWEST_MAX_AGE_DAYS", 7.0
)
PROXMON_STATUS_SNAPSHOT_OLDEST_MAX_AGE_DAYS = env.number(
    "PROXMON_STATUS_SNAPSHOT_OLDEST_MAX_AGE_DAYS", 90.0
)
PROXMON_STATUS_STORAGE_FULL_PCT = env.number("PROXMON_STATUS_STORAGE_FULL_PCT", 90.0, maximum=100.0)
PROXMON_STATUS_CLOCK_SKEW_S = env.number("PROXMON_STATUS_CLOCK_SKEW_S", 60.0)
PROXMON_STATUS_STALE_AFTER_S = env.number("PROXMON_STATUS_STALE_AFTER_S", 120.0)
# "reboot needed for kernel X" (metrics/drift.py): off for fleets that reboot on their own schedule.
PROXMON_STATUS_REBOOT_NEEDED = env.boolean("PROXMON_STATUS_REBOOT_NEEDED", True)
# A pool or storage whose trend says it is full within this many days is a warning
# (metrics/forecast.py); at least a day (proxmon.E002).
PROXMON_STATUS_FULL_WITHIN_DAYS = env.number("PROXMON_STATUS_FULL_WITHIN_DAYS", 30.0, minimum=1.0)
# A guest a backup job covers whose newest backup is older than this many hours is a warning
# (metrics/protection.py, docs/data-protection.md); at least 1 h (proxmon.E002).
PROXMON_STATUS_BACKUP_MAX_AGE_H = env.number("PROXMON_STATUS_BACKUP_MAX_AGE_H", 36.0, minimum=1.0)

# --- history beyond the raw samples (metrics/rollups.py, docs/history.md) --------------------
# Days of 5-minute and of hourly points to keep (hourly at least as long as 5-minute: checked).
PROXMON_HISTORY_5M_DAYS = env.integer("PROXMON_HISTORY_5M_DAYS", 35, minimum=1)
PROXMON_HISTORY_1H_DAYS = env.integer("PROXMON_HISTORY_1H_DAYS", 400, minimum=1)
# How often the background thread rolls up new samples; samples per transaction when it does.
PROXMON_HISTORY_INTERVAL_S = env.number("PROXMON_HISTORY_INTERVAL_S", 300.0, minimum=1.0)
PROXMON_HISTORY_CHUNK = env.integer("PROXMON_HISTORY_CHUNK", 500, minimum=1)
# PostgreSQL: samples received less than this long ago wait for the next pass (an id handed out
# earlier may still be in a transaction that has not committed; metrics/rollups.py).
PROXMON_HISTORY_SETTLE_S = env.number("PROXMON_HISTORY_SETTLE_S", 60.0)

# --- alerts (alerts/); DESIGN.md "Alerts that page the operator, without noise" ---------------
# Alerting on or off (off: no evaluation at ingest, no sweep, no sending; for benchmarks).
PROXMON_ALERTS = env.boolean("PROXMON_ALERTS", True)
# Seconds a condition must hold before it fires, per rule (docs/alerts.md). PROXMON_ALERT_DELAY_S
# is the default of every rule not named here.
PROXMON_ALERT_DELAY_S = env.number("PROXMON_ALERT_DELAY_S", 600.0)
PROXMON_ALERT_OFFLINE_DELAY_S = env.number("PROXMON_ALERT_OFFLINE_DELAY_S", 180.0)
PROXMON_ALERT_POOL_HEALTH_DELAY_S = env.number("PROXMON_ALERT_POOL_HEALTH_DELAY_S", 0.0)
PROXMON_ALERT_POOL_DATA_ERRORS_DELAY_S = env.number("PROXMON_ALERT_POOL_DATA_ERRORS_DELAY_S", 0.0)
_DELAY = PROXMON_ALERT_DELAY_S
PROXMON_ALERT_POOL_CAPACITY_DELAY_S = env.number("PROXMON_ALERT_POOL_CAPACITY_DELAY_S", _DELAY)
PROXMON_ALERT_POOL_ERRORS_DELAY_S = env.number("PROXMON_ALERT_POOL_ERRORS_DELAY_S", _DELAY)
PROXMON_ALERT_POOL_DEGRADED_DEVICES_DELAY_S = env.number(
    "PROXMON_ALERT_POOL_DEGRADED_DEVICES_DELAY_S", _DELAY
)
PROXMON_ALERT_SCRUB_DELAY_S = env.number("PROXMON_ALERT_SCRUB_DELAY_S", _DELAY)
PROXMON_ALERT_SNAPSHOT_NEWEST_DELAY_S = env.number("PROXMON_ALERT_SNAPSHOT_NEWEST_DELAY_S", _DELAY)
PROXMON_ALERT_SNAPSHOT_OLDEST_DELAY_S = env.number("PROXMON_ALERT_SNAPSHOT_OLDEST_DELAY_S", _DELAY)
PROXMON_ALERT_UPDATES_DELAY_S = env.number("PROXMON_ALERT_UPDATES_DELAY_S", _DELAY)
PROXMON_ALERT_REBOOT_NEEDED_DELAY_S = env.number("PROXMON_ALERT_REBOOT_NEEDED_DELAY_S", _DELAY)
PROXMON_ALERT_STORAGE_INACTIVE_DELAY_S = env.number(
    "PROXMON_ALERT_STORAGE_INACTIVE_DELAY_S", _DELAY
)
PROXMON_ALERT_STORAGE_FULL_DELAY_S = env.number("PROXMON_ALERT_STORAGE_FULL_DELAY_S", _DELAY)
PROXMON_ALERT_POOL_FULL_SOON_DELAY_S = env.number("PROXMON_ALERT_POOL_FULL_SOON_DELAY_S", _DELAY)
PROXMON_ALERT_STORAGE_FULL_SOON_DELAY_S = env.number(
    "PROXMON_ALERT_STORAGE_FULL_SOON_DELAY_S", _DELAY
)
# Backups and replication arrive every 5 min (medium tier): a failed backup task is a fact, not a
# blip, so it pages at once; the others wait the default delay.
PROXMON_ALERT_BACKUP_AGE_DELAY_S = env.number("PROXMON_ALERT_BACKUP_AGE_DELAY_S", _DELAY)
PROXMON_ALERT_BACKUP_FAILED_DELAY_S = env.number("PROXMON_ALERT_BACKUP_FAILED_DELAY_S", 0.0)
PROXMON_ALERT_BACKUP_STORAGE_DELAY_S = env.number("PROXMON_ALERT_BACKUP_STORAGE_DELAY_S", _DELAY)
PROXMON_ALERT_REPLICATION_FAILED_DELAY_S = env.number(
    "PROXMON_ALERT_REPLICATION_FAILED_DELAY_S", _DELAY
)
PROXMON_ALERT_REPLICATION_STALE_DELAY_S = env.number(
    "PROXMON_ALERT_REPLICATION_STALE_DELAY_S", _DELAY
)
# Disks arrive every 30 min (slow tier): SMART health FAILED is the disk's own verdict, at once.
PROXMON_ALERT_DISK_FAILED_DELAY_S = env.number("PROXMON_ALERT_DISK_FAILED_DELAY_S", 0.0)
PROXMON_ALERT_DISK_SECTORS_DELAY_S = env.number("PROXMON_ALERT_DISK_SECTORS_DELAY_S", _DELAY)
PROXMON_ALERT_DISK_WEAR_DELAY_S = env.number("PROXMON_ALERT_DISK_WEAR_DELAY_S", _DELAY)
PROXMON_ALERT_DISK_WARNING_DELAY_S = env.number("PROXMON_ALERT_DISK_WARNING_DELAY_S", _DELAY)
PROXMON_ALERT_CLOCK_SKEW_DELAY_S = env.number("PROXMON_ALERT_CLOCK_SKEW_DELAY_S", _DELAY)
PROXMON_ALERT_SOURCE_FAILING_DELAY_S = env.number("PROXMON_ALERT_SOURCE_FAILING_DELAY_S", _DELAY)
PROXMON_ALERT_STALE_DELAY_S = env.number("PROXMON_ALERT_STALE_DELAY_S", _DELAY)
# A percentage alert (pool capacity, storage full) clears only this many points below its threshold.
PROXMON_ALERT_HYSTERESIS_PCT = env.number("PROXMON_ALERT_HYSTERESIS_PCT", 2.0, maximum=100.0)
# How often time-driven conditions (offline, stale data, ages, delays) are evaluated again.
PROXMON_ALERT_SWEEP_S = env.number("PROXMON_ALERT_SWEEP_S", 15.0, minimum=0.1)
# A critical alert still firing is sent again after this many hours (acked/silenced: never).
PROXMON_ALERT_REPEAT_HOURS = env.number("PROXMON_ALERT_REPEAT_HOURS", 24.0, minimum=0.001)
# Transitions and resolved alerts are kept this many days.
PROXMON_ALERT_HISTORY_DAYS = env.integer("PROXMON_ALERT_HISTORY_DAYS", 90, minimum=1)
# Failed deliveries are retried after RETRY_BASE_S, doubling up to RETRY_MAX_S, for ever.
PROXMON_ALERT_RETRY_BASE_S = env.number("PROXMON_ALERT_RETRY_BASE_S", 10.0, minimum=0.01)
PROXMON_ALERT_RETRY_MAX_S = env.number("PROXMON_ALERT_RETRY_MAX_S", 900.0, minimum=0.01)
# The sender's lease: the one process that sends holds it, another takes over after it expires.
PROXMON_ALERT_LEASE_S = env.number("PROXMON_ALERT_LEASE_S", 30.0, minimum=1.0)
# How often the sender looks for due deliveries written by another process.
PROXMON_ALERT_POLL_S = env.number("PROXMON_ALERT_POLL_S", 0.5, minimum=0.01)
# A dead-man's switch (healthchecks.io, Uptime Kuma push, ...): GET every minute by the sender.
PROXMON_HEARTBEAT_URL = env.string("PROXMON_HEARTBEAT_URL")
PROXMON_HEARTBEAT_EVERY_S = env.number("PROXMON_HEARTBEAT_EVERY_S", 60.0, minimum=1.0)
