"""What the operator's Kubernetes Events say about their source."""

# The reporting component of every Event the operator's controllers post (Event.source.component).
COMPONENT = "taskops-operator"
