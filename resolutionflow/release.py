"""The running release: a digest of the code, templates and static files it runs.

Markup cached in the shared cache outlives the process that rendered it, and a
page's markup depends on Python (views, template tags, filters) as much as on its
templates. A key that carries `digest()` is never read by a release that would
render it differently: a deployment that changes any of those files starts
every such fragment afresh.

Computed once per process, and again when the template it is asked for was
compiled anew: the development server resets the template loaders when a
template is edited, without a restart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.template.loader import get_template

SUFFIXES = {".py", ".html", ".txt", ".css", ".js", ".svg"}
SKIPPED = {"__pycache__", "tests", "migrations", "node_modules"}

# The digest, and by template name the compiled template it was last asked for with.
_digest: str | None = None
_asked_with: dict[str, object] = {}


def _roots() -> list[Path]:
    base = Path(settings.BASE_DIR)
    apps = [
        base / name.split(".")[0]
        for name in settings.INSTALLED_APPS
        if (base / name.split(".")[0]).is_dir()
    ]
    dirs = [Path(d) for t in settings.TEMPLATES for d in t.get("DIRS", [])]
    return sorted({*apps, *dirs, *map(Path, settings.STATICFILES_DIRS)})


def _files(root: Path):
    for path in sorted(root.rglob("*")):
        if path.suffix in SUFFIXES and not SKIPPED.intersection(path.relative_to(root).parts):
            yield path


def _compute() -> str:
    digest = hashlib.blake2b(digest_size=8)
    base = Path(settings.BASE_DIR)
    for root in _roots():
        for path in _files(root):
            digest.update(str(path.relative_to(base)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def digest(template_name: str) -> str:
    """A digest of this release's code, templates and static files (module docstring),
    for markup rendered from `template_name`."""
    global _digest
    template = get_template(template_name).template
    if _asked_with.get(template_name) is not template:
        if _digest is None or template_name in _asked_with:  # first use, or recompiled
            _digest = _compute()
            _asked_with.clear()
        _asked_with[template_name] = template
    return _digest
