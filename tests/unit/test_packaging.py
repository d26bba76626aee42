"""setup.cfg: every package directory is listed (find: cannot, see
setup.cfg), every distribution imported is declared, and constraints.txt
pins what ./dev installs."""

import ast
import configparser
import importlib.metadata
import os
import re
import sys

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


#: where the installed product's imports live, and the tests' and benchmarks'
PRODUCT = ("fluxd", "shell", "imp", os.path.join("twisted", "plugins"))
DEVELOPMENT = ("tests", "bench", "conftest.py")


def _normalize(name):
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(text):
    """Distribution names of setup.cfg requirement lines."""
    return {_normalize(re.match(r"[A-Za-z0-9._-]+", line).group(0))
            for line in text.split() if line.strip()}


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    return cfg


def _python_files(names):
    for name in names:
        path = os.path.join(REPO, name)
        if os.path.isfile(path):
            yield path
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for filename in filenames:
                if filename.endswith(".py"):
                    yield os.path.join(dirpath, filename)


def _imported_top_levels(names):
    """``{top-level module: first file importing it}`` of absolute imports."""
    found = {}
    for path in _python_files(names):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module.split(".")[0], path)
    return found


def _undeclared(names, declared):
    """Imported third-party modules whose distribution is not declared."""
    local = {"fluxd", "flux_shell", "flux_imp", "tests"}
    owners = importlib.metadata.packages_distributions()
    missing = {}
    for module, path in _imported_top_levels(names).items():
        if module in sys.stdlib_module_names or module in local:
            continue
        dists = {_normalize(d) for d in owners.get(module, [module])}
        if not dists & declared:
            missing[module] = os.path.relpath(path, REPO)
    return missing


class DependencyTests(SynchronousTestCase):
    """What the code imports is what setup.cfg declares."""

    def test_product_imports_declared(self):
        """Every distribution the package imports is in install_requires
        (``automat``, ``cryptography``... not only through Twisted)."""
        declared = _requirement_names(
            _setup_cfg()["options"]["install_requires"])
        self.assertEqual(_undeclared(PRODUCT, declared), {})

    def test_test_imports_declared(self):
        """The tests and benchmarks import only install_requires and the
        ``test`` extra."""
        cfg = _setup_cfg()
        declared = (_requirement_names(cfg["options"]["install_requires"])
                    | _requirement_names(cfg["options.extras_require"]["test"]))
        self.assertEqual(_undeclared(DEVELOPMENT, declared), {})

    def test_undeclared_import_is_caught(self):
        """The check sees a distribution reached only through another."""
        missing = _undeclared(PRODUCT, {
            "twisted", "pyopenssl", "service-identity", "zope-interface",
            "pyyaml", "tomli-w"})
        self.assertEqual(sorted(missing), ["automat", "cryptography"])

    def test_constraints_pin_what_is_installed(self):
        """constraints.txt pins every declared distribution, and the
        environment ./dev made has exactly those versions."""
        cfg = _setup_cfg()
        declared = (_requirement_names(cfg["options"]["install_requires"])
                    | _requirement_names(cfg["options.extras_require"]["test"]))
        pins = {}
        with open(os.path.join(REPO, "constraints.txt")) as f:
            for line in f:
                line = line.split("#")[0].strip()
                if line:
                    name, _, version = line.partition("==")
                    pins[_normalize(name)] = version
        self.assertEqual(declared - set(pins), set())
        installed = {_normalize(dist.metadata["Name"]): dist.version
                     for dist in importlib.metadata.distributions()}
        self.assertEqual({name: installed.get(name) for name in declared},
                         {name: pins[name] for name in declared})
