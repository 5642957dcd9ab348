"""Shared test setup: a fast hypothesis profile for CI and small thread counts."""

import os

import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# the test models are tiny: one thread avoids contention and is as fast
torch.set_num_threads(1)

# the registry is passive; tests that query it directly get what every front door loads
from hrmzoo.plugins import load_components  # noqa: E402

load_components()
