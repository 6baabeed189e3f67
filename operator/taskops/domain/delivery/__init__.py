"""Completion webhooks: when to send, how to sign, what a response means."""
