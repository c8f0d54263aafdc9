import pytest

from tests.prom.harness import available


def pytest_collection_modifyitems(config, items):
    if available():
        return
    skip = pytest.mark.skip(reason="needs the prometheus binary (apt-get install prometheus)")
    for item in items:
        if "prometheus" in item.keywords:
            item.add_marker(skip)
