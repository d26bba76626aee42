"""Nested instances: ``flux broker`` as a job's task (``flux batch``,
``flux alloc``), bootstrapped through the job shell's PMI."""
