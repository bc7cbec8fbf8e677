"""ResolutionFlow settings: one module, driven by environment variables.

Every value has a safe development default so `make run` needs no setup; a
production deployment sets the variables listed in `.env.example` and the
README. With DEBUG off the app refuses to start without a real SECRET_KEY and
ALLOWED_HOSTS rather than run insecurely.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A local .env is convenient in development; real deployments use the environment.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEV_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if not DEBUG:
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 40:
        raise ImproperlyConfigured(
            "DEBUG is off: set SECRET_KEY to a random string of at least 40 characters."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS to the site's host names.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "resolutionflow",
    "trees",
    "sessions.apps.FlowSessionsConfig",
    "reports",
    "django_tasks",
    "django_tasks_db",
    "integrations.apps.IntegrationsConfig",
    "api",
    "ninja",
    "mozilla_django_oidc",
    # For its management command, `generate_load`; its floor view is only
    # routed under bench.settings.
    "bench",
    "axes",
]

MIDDLEWARE = [
    "resolutionflow.middleware.RequestIdMiddleware",
    # Each shared-cache generation token read once per request (resolutionflow.generations).
    "resolutionflow.generations.GenerationsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "resolutionflow.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

# Login throttling: after AXES_FAILURE_LIMIT failures for one username from one
# address, that pair is locked out for the cool-off period; admins unlock in
# the admin (Axes › Access attempts) or with `manage.py axes_reset_username`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, its permission sets kept in the shared cache.
    "resolutionflow.permissions.CachedPermissionsBackend",
    # Answers only the OpenID Connect callback (it needs a `code` and `state`).
    "api.oidc.Backend",
    # Listed so that people signed in before the permission cache (their session
    # names this backend) stay signed in; the one above answers first.
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- the REST API and single sign-on (SPEC §11) ---------------------------------
# Requests a minute per token (or per signed-in session), counted in the cache.
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=60)
API_TOKEN_DEFAULT_DAYS = env.int("API_TOKEN_DEFAULT_DAYS", default=90)

# OpenID Connect sign-in (mozilla-django-oidc) is on when OIDC_ISSUER is set.
# The provider's endpoints come from its discovery document
# (<issuer>/.well-known/openid-configuration) unless set one by one.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_ENABLED = bool(OIDC_ISSUER)
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="Microsoft")
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_ENGINEER_GROUPS = env.list("OIDC_ENGINEER_GROUPS", default=[])
OIDC_MANAGER_GROUPS = env.list("OIDC_MANAGER_GROUPS", default=[])
for _name in ("AUTHORIZATION", "TOKEN", "USER", "JWKS"):
    if _value := env.str(f"OIDC_OP_{_name}_ENDPOINT", default=""):
        globals()[f"OIDC_OP_{_name}_ENDPOINT"] = _value
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT_SECONDS", default=10)
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
OIDC_AUTHENTICATE_CLASS = "api.oidc.AuthenticationRequestView"
OIDC_CALLBACK_CLASS = "api.oidc.CallbackView"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
# Off: only staff (admins) may sign in with a password; everyone else uses SSO.
PASSWORD_LOGIN_FOR_NON_STAFF = env.bool("PASSWORD_LOGIN_FOR_NON_STAFF", default=True)
if OIDC_ENABLED and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET.")

ROOT_URLCONF = "resolutionflow.urls"
WSGI_APPLICATION = "resolutionflow.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "resolutionflow.context_processors.navigation",
            ],
            "builtins": [
                "template_partials.templatetags.partials",
                "resolutionflow.templatetags.ui",
            ],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
        },
    }
]

# Database: SQLite in var/ by default so a newcomer needs nothing installed;
# PostgreSQL through DATABASE_URL in production and CI.
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two requests racing to
    # advance the same session serialise instead of failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    # The reports' covering indexes include columns for PostgreSQL's index-only
    # scans; SQLite keeps their key columns and ignores the rest, which is all the
    # warning says: `make run` should not greet a newcomer with it.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

# A PostgreSQL streaming replica for the reads that can live with replication
# lag (reports, CSV exports): resolutionflow/replica.py. Without it, everything
# reads from the primary.
if env.str("REPLICA_DATABASE_URL", default=""):
    DATABASES["replica"] = env.db_url("REPLICA_DATABASE_URL")
    DATABASES["replica"].update(
        {
            "CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=60),
            "CONN_HEALTH_CHECKS": True,
            # A replica that is down must not hold a report up for long.
            "OPTIONS": {"connect_timeout": env.int("REPLICA_CONNECT_TIMEOUT", default=2)},
            # Tests run on the primary's test database.
            "TEST": {"MIRROR": "default"},
        }
    )
READ_REPLICA = "replica" if "replica" in DATABASES else None
DATABASE_ROUTERS = ["resolutionflow.replica.ReplicaRouter"]
REPLICA_RETRY_SECONDS = env.int("REPLICA_RETRY_SECONDS", default=30)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One cache shared by every app server (rate limits, cached fragments): Redis in
# production through REDIS_URL; a per-process memory cache otherwise, so a
# newcomer's `make run` needs nothing.
if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": {
            # Django's Redis backend, reusing its client (resolutionflow/cache.py).
            "BACKEND": "resolutionflow.cache.RedisCache",
            "LOCATION": env.str("REDIS_URL"),
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="resolutionflow"),
            "TIMEOUT": 3600,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "TIMEOUT": 3600,
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
# Whether every app server sees the same cache: what is cached until another
# process says it changed (the history's totals and filter lists) is cached only
# then; what is keyed by the rows themselves (the history's cards) always is.
SHARED_CACHE = env.bool("SHARED_CACHE", default=bool(env.str("REDIS_URL", default="")))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# A gap longer than this between two actions on a session counts as idle, not
# work: the time beyond it is recorded as an automatic pause (SPEC §9).
IDLE_AFTER_MINUTES = env.int("IDLE_AFTER_MINUTES", default=30)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

MESSAGE_TAGS = {10: "info", 20: "info", 25: "success", 30: "warning", 40: "error"}

# Cookies and transport security. HTTPS-only settings switch on with DEBUG off;
# behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER (see README).
# Signed-in sessions live in the database; with a shared cache they are read
# from it first (written to both), one query less on every page.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if SHARED_CACHE
    else "django.contrib.sessions.backends.db"
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# A strict Content-Security-Policy: only our own scripts and styles, no inline
# code, no eval. Templates therefore carry no <script> bodies and no style="".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}
# --- ticket loop (integrations) ---------------------------------------------------
# Background work: django-tasks with its database backend, so a queued delivery
# is a row written in the transaction that queued it (`manage.py run_worker`).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Fernet keys (urlsafe base64, 32 bytes) for the PSA credentials, newest first:
# MultiFernet encrypts with the first and decrypts with any, so rotating is
# "prepend a new key, run `manage.py rotate_integration_keys`, drop the old".
# Unset, a key is derived from SECRET_KEY (fine for development; in production
# set INTEGRATIONS_KEYS so rotating SECRET_KEY does not orphan the credentials).
INTEGRATIONS_KEYS = env.list("INTEGRATIONS_KEYS", default=[])
INTEGRATIONS_MAX_ATTEMPTS = env.int("INTEGRATIONS_MAX_ATTEMPTS", default=6)
# Backoff base in seconds: 30 s, 60 s, 120 s, 240 s, … (capped at an hour), with jitter.
INTEGRATIONS_BACKOFF_SECONDS = env.float("INTEGRATIONS_BACKOFF_SECONDS", default=30)
# A delivery claimed by a worker that died is handed to another after this.
INTEGRATIONS_LEASE_SECONDS = env.int("INTEGRATIONS_LEASE_SECONDS", default=120)
# Every call to a PSA or webhook: connect/read timeout in seconds.
INTEGRATIONS_TIMEOUT_SECONDS = env.float("INTEGRATIONS_TIMEOUT_SECONDS", default=10)
# The Start form's ticket lookup waits less: it must never hold the engineer up.
INTEGRATIONS_LOOKUP_TIMEOUT_SECONDS = env.float("INTEGRATIONS_LOOKUP_TIMEOUT_SECONDS", default=3)

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "request": {
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s request_id=%(request_id)s "
            "method=%(method)s path=%(path)s status=%(status)s user_id=%(user_id)s "
            "duration_ms=%(duration_ms)s"
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "requests": {"class": "logging.StreamHandler", "formatter": "request"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One INFO line per PSA call is noise; failures are on the delivery itself.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "resolutionflow.requests": {"handlers": ["requests"], "propagate": False},
        # Failed requests are logged once, with their request id, by RequestIdMiddleware.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
