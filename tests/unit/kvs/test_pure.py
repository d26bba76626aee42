"""The pure KVS modules and the flux kvs/content commands import no Twisted."""

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


class PureTests(SynchronousTestCase):
    def test_no_twisted(self):
        code = ("import sys; import fluxd.kvs.blobref, fluxd.kvs.treeobj,"
                " fluxd.kvs.txn, fluxd.kvs.lookup, fluxd.kvs.cache,"
                " fluxd.cli.cmd_kvs, fluxd.cli.cmd_content;"
                " print([m for m in sys.modules if m.startswith('twisted')])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, cwd=REPO, check=True).stdout
        self.assertEqual(out.strip(), "[]")
