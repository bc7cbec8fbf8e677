"""Settings for `make bench`: the project's own, as in production, plus the floor view.

DEBUG is off (no query log, cached templates, no debug toolbar-like overhead);
the floor view lives in `bench.urls`, loaded only here. Everything else,
including the middleware every page pays for, is the project's.
"""

import warnings

from resolutionflow.settings import *  # noqa: F403

DEBUG = False
SECRET_KEY = "benchmark-only-secret-key-not-used-anywhere-else-0123456789"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# The benchmark talks plain HTTP to 127.0.0.1 and to the test client.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ROOT_URLCONF = "bench.urls"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# WhiteNoise warns that collectstatic has not run: the benchmark serves pages, not files.
warnings.filterwarnings("ignore", message="No directory at")

# The API's per-caller limit (requests a minute) still counts every request, but
# the benchmark's hundred requests in a few seconds must not be refused.
API_RATE_LIMIT = 1_000_000
