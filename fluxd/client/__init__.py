"""Clients of a fluxd broker: one wire codec, two client libraries.

- :mod:`fluxd.client.wire`: the AMP box codec and the box layout of every
  local-connector command (pure, stdlib only).
- :mod:`fluxd.client.sync`: a blocking stdlib client for the ``flux``
  command and scripts (no Twisted import: CLI start-up stays small).
- :mod:`fluxd.client.tx`: a Twisted client returning Deferreds, for
  services and long-running tools.
"""
