"""The ``flux`` command: a thin dispatcher over one module per subcommand."""
