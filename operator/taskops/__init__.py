"""taskops: tasks as Kubernetes custom resources."""

GROUP = "taskops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
