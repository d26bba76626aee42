"""flux_shell: the fluxd job shell (``flux-shell``), one per job per node.

- :mod:`flux_shell.shell`: one shell's life (tasks, signals, output);
- :mod:`flux_shell.server`: the per-broker server that forks shells;
- :mod:`flux_shell.taskmap`, :mod:`flux_shell.options`: pure helpers.

``python -m flux_shell SPEC.json`` runs one shell on its own (events on
stdout), as the IMP will launch it for other users' jobs.
"""
