"""Fences: rules about imports and headers, checked on the source.

- the ``flux`` command modules (``fluxd/cli/*.py``) load no Twisted;
- nothing imports the global reactor outside the entry points
  (``fluxd/tap.py``, ``fluxd/cli/cmd_start.py``, ``fluxd/demo.py``,
  ``bench/``, ``tests/integration/``);
- ``fluxd.formats`` is pure: no configuration loader, nothing of fluxd
  outside itself but :mod:`fluxd.errors`;
- every module's ``# -*- test-case-name: X -*-`` header names a test
  module that exists (and every module of the package has one).
"""

import ast
import os
import re
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

#: where the global reactor may be imported (paths relative to REPO)
REACTOR_ENTRY_POINTS = ("fluxd/tap.py", "fluxd/cli/cmd_start.py",
                        "fluxd/demo.py")
REACTOR_FREE_TREES = ("bench/", "tests/integration/")
#: the trees scanned
SOURCE_TREES = ("fluxd", "shell", "imp", "twisted", "tests", "bench")
HEADER = re.compile(r"^#\s*-\*-\s*test-case-name:\s*(\S+?)\s*-\*-", re.M)


def python_files(trees=SOURCE_TREES):
    """Every ``.py`` file below ``trees``, as paths relative to REPO."""
    for tree in trees:
        for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, tree)):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in ("__pycache__", "vectors"))
            for name in sorted(filenames):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, name), REPO)
    yield "conftest.py"


def modules_of(package_dir, package):
    """Dotted names of every module file of a package directory."""
    names = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(REPO,
                                                             package_dir)):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        rel = os.path.relpath(dirpath, os.path.join(REPO, package_dir))
        prefix = package if rel == "." else \
            f"{package}.{rel.replace(os.sep, '.')}"
        for name in sorted(filenames):
            if name.endswith(".py"):
                stem = name[:-3]
                names.append(prefix if stem == "__init__"
                             else f"{prefix}.{stem}")
    return sorted(names)


def loaded_after_import(modules, probe):
    """Import ``modules`` in a fresh interpreter; return ``probe``'s list
    (a Python expression over ``sys.modules``), as printed there."""
    code = (f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
            f"print(sorted({probe}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(result.stderr)
    return ast.literal_eval(result.stdout.strip())


def reactor_imports(source, path):
    """Line numbers where ``source`` imports the global reactor."""
    lines = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module == "twisted.internet" and any(
                    alias.name == "reactor" for alias in node.names):
                lines.append(node.lineno)
            elif (node.module or "").startswith("twisted.internet.reactor"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Import):
            if any(alias.name.startswith("twisted.internet.reactor")
                   for alias in node.names):
                lines.append(node.lineno)
    return lines


class CliTwistedFenceTests(SynchronousTestCase):
    def test_cli_modules_load_no_twisted(self):
        """Every module of fluxd/cli imports without loading Twisted."""
        modules = modules_of("fluxd/cli", "fluxd.cli")
        self.assertIn("fluxd.cli.cmd_kvs", modules)
        loaded = loaded_after_import(
            modules, "m for m in sys.modules if m.split('.')[0] == 'twisted'")
        self.assertEqual(loaded, [])

    def test_the_probe_sees_twisted(self):
        """The same probe does see Twisted where it is loaded."""
        loaded = loaded_after_import(
            ["fluxd.tap"], "m for m in sys.modules if m == 'twisted'")
        self.assertEqual(loaded, ["twisted"])


class FormatsFenceTests(SynchronousTestCase):
    def test_formats_import_only_themselves(self):
        """fluxd.formats loads no config loader and no fluxd module beyond
        fluxd.formats and fluxd.errors (the package itself aside)."""
        modules = modules_of("fluxd/formats", "fluxd.formats")
        self.assertIn("fluxd.formats.rv1", modules)
        loaded = loaded_after_import(
            modules, "m for m in sys.modules if m.startswith('fluxd')"
            " and m != 'fluxd' and not m.startswith('fluxd.formats')")
        self.assertEqual(loaded, ["fluxd.errors"])


class ReactorFenceTests(SynchronousTestCase):
    def test_detects_every_form(self):
        for text in ("from twisted.internet import reactor",
                     "from twisted.internet import defer, reactor as r",
                     "import twisted.internet.reactor",
                     "import twisted.internet.reactor as r",
                     "from twisted.internet.reactor import callLater",
                     "def f():\n    from twisted.internet import reactor"):
            self.assertTrue(reactor_imports(text, "<test>"), text)
        for text in ("from twisted.internet import defer",
                     "from twisted.internet import reactors",
                     "import twisted.internet.task"):
            self.assertEqual(reactor_imports(text, "<test>"), [], text)

    def test_only_entry_points_import_the_reactor(self):
        found = []
        for path in python_files():
            if path in REACTOR_ENTRY_POINTS or path.startswith(
                    REACTOR_FREE_TREES):
                continue
            with open(os.path.join(REPO, path), encoding="utf-8") as f:
                for line in reactor_imports(f.read(), path):
                    found.append(f"{path}:{line}")
        self.assertEqual(found, [])


class HeaderFenceTests(SynchronousTestCase):
    def test_headers_name_existing_test_modules(self):
        broken = []
        for path in python_files():
            with open(os.path.join(REPO, path), encoding="utf-8") as f:
                match = HEADER.search(f.read(4096))
            if match is None:
                continue
            for name in match.group(1).split(","):
                target = os.path.join(REPO, *name.split("."))
                if not (os.path.isfile(target + ".py") or os.path.isfile(
                        os.path.join(target, "__init__.py"))) \
                        or not name.startswith("tests."):
                    broken.append(f"{path}: {name}")
        self.assertEqual(broken, [])

    def test_every_module_has_a_header(self):
        missing = []
        for path in python_files(("fluxd", "shell", "imp")):
            if path == "conftest.py" or path.endswith("__init__.py"):
                continue
            with open(os.path.join(REPO, path), encoding="utf-8") as f:
                if HEADER.search(f.read(4096)) is None:
                    missing.append(path)
        self.assertEqual(missing, [])
