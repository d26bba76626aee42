"""Jobs: ingest, the job manager, job-list and job-info (RFC 21, 27, 32, 43)."""
