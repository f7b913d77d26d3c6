"""Shared test fixtures.

Fixtures live in modules under tests/fixtures/, one per concern, each owned by the
package it serves; this file only registers them so every test directory sees them.
"""

import os
import tempfile

# Run stores and logs of the suite never land in the user's ~/.slmflow. Set before any
# Ray cluster starts so that Ray workers inherit it too. Model caches stay shared
# (SLMFLOW_CACHE, default ~/.cache/slmflow) so converted weights survive between runs.
os.environ["SLMFLOW_HOME"] = tempfile.mkdtemp(prefix="slmflow-test-home-")

pytest_plugins = [
    "tests.fixtures.ray_cluster",
    "tests.fixtures.models",
    "tests.fixtures.multinode",
    "tests.fixtures.tiers",
]
