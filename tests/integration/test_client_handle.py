"""The client handle contract (tests/contracts/test_client_handle.py) held
by the real stdlib client against a broker process."""

import shutil
import tempfile

from fluxd.client.sync import Flux
from fluxd.storage import treeobj as T
from fluxd.testing.broker import BrokerProcess
from tests.contracts.test_client_handle import make_handle_tests


def _real_handle(test):
    workdir = tempfile.mkdtemp(prefix="fluxd-handle-")
    broker = BrokerProcess(workdir).start()
    test.addCleanup(shutil.rmtree, workdir, True)
    test.addCleanup(broker.stop)
    handle = Flux(broker.uri)
    test.addCleanup(handle.close)

    def put(key, data):
        handle.rpc("kvs.commit", {"namespace": "primary", "flags": 0,
                                  "ops": [{"key": key, "flags": 0,
                                           "dirent": T.create_val(data)}]})
    return handle, put


SyncClientContract = make_handle_tests(_real_handle)
