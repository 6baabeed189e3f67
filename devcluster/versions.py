"""Pinned versions of every control-plane component.

Changing a version changes the cache key, so the next build starts fresh for
that component while the others are reused.
"""

KUBERNETES = "1.34.4"
# The published staging modules (k8s.io/api, client-go, ...) that match KUBERNETES.
KUBERNETES_STAGING = "0.34.4"
ETCD = "3.6.5"
KWOK = "0.8.0"
# Feature gates on in the API server and the real node's kubelet. EnvFiles (alpha in 1.34, on by default from
# 1.35): env vars read from a file in an emptyDir (`fileKeyRef`), which batch pods use for their own input's
# params when the operator runs with --batch-env-files (docs/batch.md).
FEATURE_GATES = {"EnvFiles": True}
# helm.sh/helm/v3: the newest v3 release whose go.mod still asks only for Go 1.24 (the project's floor).
HELM = "3.19.5"

# Staging modules replaced by local paths in k8s.io/kubernetes' go.mod; the
# wrapper module points each at its published release instead.
KUBERNETES_STAGING_MODULES = (
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
)

ETCD_REPLACED_MODULES = ("api/v3", "client/pkg/v3", "client/v3", "pkg/v3")
