"""The Twisted client against a real broker process (pytest-twisted)."""

import errno

import pytest
import pytest_twisted
from twisted.internet import reactor

from fluxd.client.tx import connect
from fluxd.errors import FluxError, NotConnected


@pytest_twisted.ensureDeferred
async def test_rpc_against_real_broker(broker):
    client = await connect(reactor, broker.uri)
    try:
        assert client.rank == 0
        reply = await client.rpc("attr.get", {"name": "size"})
        assert reply["value"] == "1"
        big = "z" * (1 << 20)
        assert (await client.rpc("broker.ping", {"pad": big}))["pad"] == big
        with pytest.raises(FluxError) as info:
            await client.rpc("attr.get", {"name": "nope"})
        assert info.value.errno == errno.ENOENT
        mods = await client.rpc("module.list")
        assert "connector-local" in {m["name"] for m in mods["mods"]}
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_connect_nowhere(tmp_path):
    with pytest.raises(NotConnected):
        await connect(reactor, f"local://{tmp_path}/nothing")
