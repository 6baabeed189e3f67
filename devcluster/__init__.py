"""A real Kubernetes control plane on loopback, for tests and `make up`.

Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
and kwok from their Go modules at pinned versions (cached per version under
the user's cache directory) and runs them as local processes.
"""
