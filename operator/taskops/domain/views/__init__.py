"""The Run as the API and the webhooks show it, and the seeds' vocabularies derived from it."""
