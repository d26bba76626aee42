"""The local connector: AMP over the broker's UNIX socket (SO_PEERCRED)."""
