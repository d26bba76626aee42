"""The exec service (RFC 32, :mod:`fluxd.exec.service`): job shells on
every rank (the shell itself is the ``flux_shell`` package), and test
execution."""
