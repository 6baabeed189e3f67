"""The REST API: every write is a write of a Task or Run custom resource."""
