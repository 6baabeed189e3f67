"""`kubectl taskops`: a kubectl plugin that runs, waits for, follows, cancels and resumes taskops Runs.

It talks to the Kubernetes API directly with the user's kubeconfig (so the user's RBAC decides), through
taskops.clients, and builds and checks Runs with the same code the REST API and the operator use.
"""
