"""The broker log: RFC 5424 records, the ring buffer and stderr output.

:mod:`fluxd.logring.stdlog` is pure (the ``flux dmesg`` and ``flux logger``
commands use it without Twisted); :mod:`fluxd.logring.service` is the
broker side.
"""
