"""Fixtures for integration tests: real broker processes in temp dirs."""

import shutil

import pytest

from fluxd.testing.broker import BrokerProcess


@pytest.fixture
def broker_factory(tmp_path):
    """Start brokers on demand; every one is stopped at the end."""
    started = []

    def start(config_path=None, attrs=None, name="b", env=None):
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        broker = BrokerProcess(workdir, config_path=config_path, attrs=attrs,
                               env=env)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()
        # job shells outlive a stopped broker; their server ends them
        # once the rundir is gone
        shutil.rmtree(broker.attrs["rundir"], ignore_errors=True)


@pytest.fixture
def broker(broker_factory):
    """One running broker with the embedded default configuration."""
    return broker_factory()


@pytest.fixture
def multiuser():
    """A :class:`tests.integration.multiuser.MultiUser`: a private munged,
    users made on demand and their files, all removed afterwards (root
    only: mark the test with ``multiuser.NEEDS_ROOT_AND_MUNGE``)."""
    from tests.integration.multiuser import MultiUser
    mu = MultiUser()
    try:
        yield mu
    finally:
        mu.close()
