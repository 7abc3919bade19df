"""Shared test configuration.

Hypothesis profiles: ``dev`` (200 examples, the default on a workstation) and ``ci``
(2,000 examples, no deadline), chosen when ``CI=true``. Override with
``HYPOTHESIS_PROFILE=ci`` (or ``dev``) in the environment.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
_default = "ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))
