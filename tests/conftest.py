"""Shared test configuration.

Fixtures every directory uses: ``locomo_dev`` (the LoCoMo dev file, or a skip) and ``store``
(an in-memory DuckDB store). Hypothesis profiles: ``dev`` (200 examples, the default on a workstation) and ``ci``
(2,000 examples, no deadline), chosen when ``CI=true``. Override with
``HYPOTHESIS_PROFILE=ci`` (or ``dev``) in the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from convolab.stores.duckdb import DuckDBStore

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
LOCOMO_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo" / "locomo-dev.json"

settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
_default = "ci" if CI else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


@pytest.fixture(scope="session")
def locomo_dev() -> Path:
    """The LoCoMo dev file, read from ../shared at run time (never copied into the repo): a
    test that needs it fails in CI when it is missing, and is skipped elsewhere."""
    if not LOCOMO_DEV.exists():
        if CI:
            pytest.fail(f"{LOCOMO_DEV} is missing (it is read from ../shared, never copied into the repo)")
        pytest.skip(f"{LOCOMO_DEV} not found")
    return LOCOMO_DEV


@pytest.fixture
def store():
    """An in-memory DuckDB store, closed after the test."""
    s = DuckDBStore(":memory:")
    yield s
    s.close()


@pytest.fixture
def fake_catalog(tmp_path, monkeypatch):
    """Point the model catalog at a TOML file of the test's own (returned, not yet written), with
    the catalog's and the price schedules' caches cleared around the test."""
    from convolab import catalog, pricing

    path = tmp_path / "models.toml"
    monkeypatch.setattr(catalog, "catalog_path", lambda: path)
    caches = (catalog.load_catalog, catalog._models, pricing._schedules)
    for f in caches:
        f.cache_clear()
    yield path
    for f in caches:
        f.cache_clear()
