"""resolutionflow/gunicorn.conf.py: the app preloaded and frozen before each fork."""

from __future__ import annotations

import gc
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


@pytest.fixture
def conf():
    enabled = gc.isenabled()
    settings = runpy.run_path(str(CONF))
    yield settings
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_it_preloads_the_app_with_the_collector_off_in_the_master(conf):
    assert conf["preload_app"] is True
    assert not gc.isenabled()


def test_it_freezes_before_the_fork_and_collects_again_in_the_worker(conf):
    gc.unfreeze()
    conf["pre_fork"](None, None)
    assert gc.get_freeze_count() > 10_000  # Django and the project, loaded by the tests
    assert not gc.isenabled()
    conf["post_fork"](None, None)
    assert gc.isenabled()


def test_gunicorn_loads_the_app_with_it():
    # --check-config reads the file and, with preload_app, imports the WSGI app, then exits.
    gunicorn = Path(sys.executable).parent / "gunicorn"
    done = subprocess.run(
        [str(gunicorn), "--check-config", "-c", str(CONF), "resolutionflow.wsgi"],
        capture_output=True, text=True, timeout=60, cwd=CONF.parent.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
