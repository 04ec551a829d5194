"""Running a node: metrics, logs, the embedded PostgreSQL, the sandbox, startup."""
