"""setup.cfg lists every package directory (find: cannot, see setup.cfg)."""

import configparser
import os

from twisted.trial.unittest import SynchronousTestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class PackagingTests(SynchronousTestCase):
    def test_every_package_listed(self):
        cfg = configparser.ConfigParser()
        cfg.read(os.path.join(REPO, "setup.cfg"))
        listed = set(cfg["options"]["packages"].split())
        found = set()
        for top, name in (("fluxd", "fluxd"), ("shell", "flux_shell"),
                          ("imp", "flux_imp")):
            for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, top)):
                dirnames[:] = [d for d in dirnames if d != "__pycache__"]
                if "__init__.py" in filenames:
                    rel = os.path.relpath(dirpath, os.path.join(REPO, top))
                    parts = [] if rel == "." else rel.split(os.sep)
                    found.add(".".join([name, *parts]))
        self.assertEqual(found - listed, set())

    def test_no_init_in_twisted_plugins(self):
        self.assertFalse(os.path.exists(
            os.path.join(REPO, "twisted", "plugins", "__init__.py")))
        self.assertFalse(os.path.exists(os.path.join(REPO, "twisted", "__init__.py")))

    def test_formats_import_no_twisted(self):
        import subprocess
        import sys
        code = ("import sys; import fluxd.formats.hostlist, fluxd.formats.idset,"
                " fluxd.formats.fsd, fluxd.formats.fluid, fluxd.formats.eventlog,"
                " fluxd.formats.jobspec, fluxd.formats.rv1, fluxd.client.sync,"
                " fluxd.cli.main, fluxd.config;"
                " print([m for m in sys.modules if m.startswith('twisted')])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, cwd=REPO, check=True).stdout
        self.assertEqual(out.strip(), "[]")
