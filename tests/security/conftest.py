"""Attacks by a hostile tenant or hostile input (issue 18): each test performs one and shows it fails.

The control plane, operator and API are the session's (tests/conftest.py), shared with tests/integration.
"""
