"""Broker administration: rc scripts, startlog, safe mode, config reload,
shutdown, systemd notification and the manhole."""
