"""The resources' vocabulary: the pydantic models, phases, conditions, names, field rules.

The models (base, agent, run, task, paramspec) are the single source of the custom resources'
schemas: `python -m taskops.crds` turns them into the CRD YAML; the operator parses objects with
them. Every field carries a description (it becomes `kubectl explain` text, and a test fails on a
field without one).

The bottom layer of taskops.domain: it imports nothing else of it.
"""
