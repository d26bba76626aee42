# -*- test-case-name: tests.integration.test_broker_local -*-
"""Broker attributes: the ``attr`` service (``flux getattr/setattr/lsattr``).

Attributes are strings.  Some are fixed by the broker (``rank``,
``version``...), some are set once on the command line with
``-Sname=value`` and never change, and a few may be changed while the
broker runs (the log settings, the shell settings and
``broker.exit-restart``, as in flux-core).  A new value is checked against
the attribute's rule (:mod:`fluxd._attr_table`) when it is given, so
``flux setattr log-stderr-level abc`` is refused with one line.
"""

from zope.interface import implementer

from fluxd._attr_table import RUNTIME_WRITABLE, check_value
from fluxd.errors import InvalidArgument, NotFound, PermissionDenied
from fluxd.interfaces import IAttributes
from fluxd.message.router import method
from fluxd.message.types import ROLE_USER
from fluxd.module import Module

__all__ = ["Attributes", "AttrService", "RUNTIME_WRITABLE"]


@implementer(IAttributes)
class Attributes:
    """The attribute table of one broker.

    :param initial: name -> value set at start (``-S`` options and the
        broker's own values).
    """

    def __init__(self, initial=None):
        self._values = {k: str(v) for k, v in (initial or {}).items()}
        self._watchers = []

    def get(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise NotFound(f"{name}: No such file or directory") from None

    def get_default(self, name, default=None):
        """The value, or ``default`` when the attribute is not set."""
        return self._values.get(name, default)

    def set(self, name, value):
        """Change a runtime-writable attribute.

        :raises fluxd.errors.NotFound: for an unknown attribute.
        :raises fluxd.errors.PermissionDenied: for one that cannot change
            while the broker runs.
        :raises fluxd.errors.InvalidArgument: for a value of the wrong kind.
        """
        if name not in RUNTIME_WRITABLE:
            if name in self._values:
                raise PermissionDenied(f"{name}: Operation not permitted")
            raise NotFound(f"{name}: No such file or directory")
        why = check_value(name, str(value))
        if why:
            raise InvalidArgument(f"{name}: {why}")
        self._values[name] = str(value)
        for watcher in self._watchers:
            watcher(name, self._values[name])

    def set_initial(self, name, value):
        """Set a value while the broker is being built (no checks)."""
        self._values[name] = str(value)

    def names(self):
        return sorted(self._values)

    def watch(self, callback):
        """Call ``callback(name, value)`` after each runtime change."""
        self._watchers.append(callback)


class AttrService(Module):
    """The ``attr`` service over an :class:`Attributes` table."""

    name = "attr"

    def __init__(self, attributes, rank=0):
        super().__init__(rank)
        self.attributes = IAttributes(attributes)

    @method("get", roles=ROLE_USER)
    def get(self, request):
        name = _name(request)
        return {"value": self.attributes.get(name), "flags": 0}

    @method("list", roles=ROLE_USER)
    def list(self, request):
        return {"names": self.attributes.names()}

    @method("set")
    def set(self, request):
        payload = request.json()
        name, value = _name(request), payload.get("value")
        if not isinstance(value, str):
            raise InvalidArgument("attr.set: value must be a string")
        self.attributes.set(name, value)
        return None


def _name(request):
    name = request.json().get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("attribute name must be a non-empty string")
    return name
