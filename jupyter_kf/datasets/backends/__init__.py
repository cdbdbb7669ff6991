"""Where dataset versions are seen by jobs: ``local`` (read-only views in a job's folder)."""
