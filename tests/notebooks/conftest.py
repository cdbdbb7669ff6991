"""The notebook-server cluster fixtures, for every test module here."""
from tests.notebooks.test_kubernetes import cluster  # noqa: F401 - the fixture
