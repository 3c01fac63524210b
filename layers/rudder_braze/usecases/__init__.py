"""The use cases, free of HTTP and Lambda: ingest a body, deliver a queue batch, retry; and their ports."""
