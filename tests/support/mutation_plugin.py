"""The suite's fixtures without the root conftest, for mutation runs: ``pytest --noconftest -p tests.support.mutation_plugin``.

The root conftest loads pytest-jupyter (jupyter_server: seconds per start); a mutation run starts pytest once per
mutant, so modules whose tests need no Jupyter server load only this: the isolated state folder and the emulator.
"""
from tests.conftest import (  # noqa: F401 - fixtures and the marker hook, registered by name
    kf_cluster,
    kf_state_dir,
    pytest_configure,
    simulated_cluster,
    simulator,
)
from tests.support.k8s_emulator.fixtures import *  # noqa: F401,F403 - fixtures
