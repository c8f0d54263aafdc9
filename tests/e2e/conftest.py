# The cluster harness (fixture `kube`, `fake_images`) from tests/cluster.
from tests.cluster.fixtures import _kube_fake_images, fake_images, kube, pytest_runtest_makereport  # noqa: F401
