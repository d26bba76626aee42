"""fluxd.storage stands alone: no Twisted, and the CLI needs no service.

Every module of the package is imported in a fresh interpreter, which
must end with no ``twisted`` module loaded; and no module of
``fluxd/cli`` imports ``fluxd.kvs`` (the KVS service package), so the
offline commands run on the storage package alone.  ``cmd_start``, which
pre-imports the broker to fork brokers from, is the one exception.
"""

import ast
import os
import pkgutil
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

import fluxd.cli
import fluxd.storage

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def imported_names(path):
    """Every module name an ``import`` in ``path`` names (at any depth)."""
    with open(path) as f:
        module = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


class IsolationTests(SynchronousTestCase):
    def test_every_storage_module_imports_no_twisted(self):
        modules = [f"fluxd.storage.{m.name}" for m in
                   pkgutil.iter_modules(fluxd.storage.__path__)]
        self.assertIn("fluxd.storage.sqlitedb", modules)
        self.assertGreaterEqual(len(modules), 10)
        code = ("import sys\n"
                + "".join(f"import {m}\n" for m in modules)
                + "print(sorted(m for m in sys.modules"
                  " if m.split('.')[0] == 'twisted'))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, cwd=REPO, check=True).stdout
        self.assertEqual(out.strip(), "[]")

    def test_offline_commands_import_no_twisted(self):
        code = ("import sys; import fluxd.cli.cmd_dump, fluxd.cli.cmd_restore,"
                " fluxd.cli.cmd_fsck, fluxd.cli.cmd_kvs, fluxd.cli.cmd_content;"
                " print(sorted(m for m in sys.modules"
                " if m.split('.')[0] == 'twisted'))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, cwd=REPO, check=True).stdout
        self.assertEqual(out.strip(), "[]")

    def test_no_cli_module_imports_the_kvs_service(self):
        found = {}
        for info in pkgutil.iter_modules(fluxd.cli.__path__):
            if info.name == "cmd_start":
                continue
            path = os.path.join(fluxd.cli.__path__[0], info.name + ".py")
            bad = [name for name in imported_names(path)
                   if name == "fluxd.kvs" or name.startswith("fluxd.kvs.")]
            if bad:
                found[info.name] = bad
        self.assertEqual(found, {})

    def test_the_check_sees_a_kvs_import(self):
        # the test above is only as good as this parser
        path = os.path.join(REPO, "fluxd", "kvs", "wiring.py")
        self.assertIn("fluxd.kvs.backing", imported_names(path))
