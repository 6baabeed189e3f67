"""The `taskops` command: `taskops operator`, `taskops api`, `taskops crds` (print the CRDs)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from typing import Any

from taskops import logs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskops", description="Tasks as Kubernetes custom resources.")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="text (default) or json lines")
    # The same two flags also after the subcommand (`taskops operator --log-format json`), as charts write them.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS, help="as above")
    common.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS, help="as above")
    sub = parser.add_subparsers(dest="command", required=True)

    _operator_flags(sub.add_parser("operator", parents=[common], help="run the operator (makes Jobs of Runs)"))

    api = sub.add_parser("api", parents=[common], help="serve the REST API (every write is a Task or Run write)")
    api.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    api.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    api.add_argument("--namespace", help="serve only this namespace (default: all, chosen per request)")
    api.add_argument("--default-namespace", default="default", help="namespace when a request names none")
    api.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    _api_limit_flags(api)

    key = sub.add_parser(
        "webhook-key",
        help="print the webhook signing key of a namespace whose Tasks name no webhookSecret; "
        "the release key is read from stdin",
    )
    key.add_argument("--namespace", required=True, help="the Tasks' namespace")

    sub.add_parser("crds", help="print the CRDs (generated from the models): taskops crds | kubectl apply -f -")
    return parser


# `taskops api --help` for each of taskops.api.Limits' fields: the flag is the field's name in kebab case, with
# the field's type and default, so a new knob needs its field and one line here (a field without one fails here).
_LIMIT_HELP = {
    "max_body_bytes": "request body bytes (1 MiB)",
    "max_batch_body_bytes": "body bytes with batch inputs (16 MiB)",
    "body_memory_bytes": "parsed size of the bodies in flight, all callers (128 MiB; a caller holds half at most)",
    "max_waiters": "wait=true requests (10000)",
    "max_waiters_per_caller": "wait=true per caller (1000)",
    "max_streams": "log and event streams (200)",
    "max_streams_per_caller": "streams per caller (10)",
    "max_stream_seconds": "a stream ends after this (3600)",
    "token_reviews_per_second": "TokenReviews of tokens not seen recently (20/s)",
    "token_review_burst": "... in a burst (40)",
}


def _api_limit_flags(api: argparse.ArgumentParser) -> None:
    """What one caller may hold of an API process (docs/security.md §4); the defaults are taskops.api.Limits'."""
    from taskops.api.limits import Limits

    d = Limits()
    g = api.add_argument_group("limits per API process and per caller (docs/security.md section 4)")
    for f in dataclasses.fields(Limits):
        default = getattr(d, f.name)
        g.add_argument("--" + f.name.replace("_", "-"), type=type(default), default=default, help=_LIMIT_HELP[f.name])


def _api_limits(args: argparse.Namespace) -> Any:
    from taskops.api.limits import Limits

    return Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)})


def _operator_flags(op: argparse.ArgumentParser) -> None:
    op.add_argument("--namespace", help="watch only this namespace (default: all namespaces)")
    op.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    op.add_argument(
        "--workers",
        type=int,
        default=16,
        help="concurrent Run reconciles (default 16): each waits on API round trips, so more overlap them",
    )
    op.add_argument("--metrics-port", type=int, help="serve /metrics, /healthz and /readyz on this port")
    op.add_argument(
        "--shard",
        default=os.environ.get("TASKOPS_SHARD", "0/1"),
        metavar="INDEX/COUNT",
        help="act only on the namespaces whose hash falls on shard INDEX of COUNT, with its own Lease "
        "(default $TASKOPS_SHARD or 0/1: every namespace; docs/operating.md)",
    )
    pods = op.add_argument_group('batch runs (docs/batch.md, "Each pod\'s own params")')
    pods.add_argument(
        "--batch-init-image",
        default=os.environ.get("TASKOPS_BATCH_INIT_IMAGE", ""),
        metavar="IMAGE",
        help="the operator's own image: each batch pod's init container (`python -m taskops.batchinit`) writes "
        "that pod's input as its params file (default $TASKOPS_BATCH_INIT_IMAGE; empty: pods get the Run's own "
        "params and read their input from the chunks, with a NoBatchInitImage Warning Event on each batch run)",
    )
    pods.add_argument(
        "--batch-env-files",
        action="store_true",
        help="the cluster has the EnvFiles feature gate (alpha in Kubernetes 1.34, on in the API server and "
        "kubelets): batch pods also get their input's TASKOPS_PARAM_* env vars (fileKeyRef)",
    )
    election = op.add_argument_group("leader election (run several replicas; one acts)")
    election.add_argument("--leader-elect", action="store_true", help="hold a Lease before acting")
    election.add_argument("--lease-namespace", default="default", help="namespace of the Lease (default: default)")
    election.add_argument("--lease-name", default="taskops-operator", help="name of the Lease")
    election.add_argument(
        "--lease-duration-seconds",
        type=int,
        default=15,
        help="a silent leader is replaced after this (15, at least 2); the leader stops at 2/3 of it",
    )
    hooks = op.add_argument_group("completion webhooks (docs/webhooks.md, docs/security.md section 3)")
    hooks.add_argument(
        "--webhook-secret",
        metavar="NAMESPACE/NAME",
        help="Secret whose `secret` key is the release key: each namespace signs with a key derived from it",
    )
    hooks.add_argument(
        "--webhook-secret-create",
        action="store_true",
        help="create the --webhook-secret Secret with a random key when it does not exist (never changes one)",
    )
    hooks.add_argument(
        "--webhook-allow",
        default="",
        metavar="LIST",
        help="comma-separated receivers called even in denied ranges: host, .domain, address or CIDR, "
        "each optionally :port (default: none)",
    )
    hooks.add_argument(
        "--webhook-deny",
        default="",
        metavar="LIST",
        help="comma-separated hosts and CIDRs never called, on top of the built-in list (loopback, link-local, "
        "private, ULA, CGNAT, special-purpose): add the cluster's pod and service CIDRs when they are public",
    )
    hooks.add_argument("--webhook-allow-only", action="store_true", help="call only receivers --webhook-allow names")
    hooks.add_argument(
        "--webhook-per-host", type=int, default=4, help="attempts in flight to one receiver host:port (default 4)"
    )
    hooks.add_argument("--webhook-backoff-seconds", type=float, default=2.0, help="first retry delay (default 2)")
    hooks.add_argument("--webhook-max-backoff-seconds", type=float, default=300.0, help="retry delay cap (300)")
    hooks.add_argument("--webhook-deadline-seconds", type=float, default=86400.0, help="give up after (86400)")
    hooks.add_argument("--webhook-timeout-seconds", type=float, default=15.0, help="read timeout (connect: 5)")


def _webhook_key(args: argparse.Namespace) -> int:
    """Print a namespace's default webhook key, from the release key on stdin (what its receivers verify with)."""
    from taskops.domain.delivery.webhooks import namespace_key

    release = sys.stdin.buffer.read().strip()
    if not release:
        print("taskops webhook-key: pipe the release key (the --webhook-secret Secret's `secret`) in", file=sys.stderr)
        return 2
    print(namespace_key(release, args.namespace).decode())
    return 0


def _run_operator(args: argparse.Namespace) -> int:
    from taskops.domain.execution.jobs import BatchPods
    from taskops.domain.leadership import shards
    from taskops.operator.leader import LostLeadership
    from taskops.operator.main import LeaderOptions, Options, run, webhook_options

    if args.workers < 1:
        # The worker shell refuses it too (controller.py); say so as a flag error, not a trace.
        raise SystemExit("--workers must be at least 1")
    try:
        shard = shards.parse(args.shard)
        shards.check_base_name(args.lease_name)
    except ValueError as exc:
        raise SystemExit(f"--shard/--lease-name: {exc}") from None
    leader = None
    if args.leader_elect:
        if args.lease_duration_seconds < 2:
            raise SystemExit("--lease-duration-seconds must be at least 2")
        leader = LeaderOptions(args.lease_namespace, args.lease_name, duration=args.lease_duration_seconds)
    if args.batch_env_files and not args.batch_init_image:
        raise SystemExit("--batch-env-files needs --batch-init-image (the init container writes the env file)")
    batch_pods = BatchPods(args.batch_init_image, args.batch_env_files) if args.batch_init_image else None
    options = Options(
        batch_pods=batch_pods,
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        workers=args.workers,
        webhook=webhook_options(args),
        leader=leader,
        metrics_port=args.metrics_port,
        shard=shard,
    )
    try:
        asyncio.run(run(options))
    except LostLeadership as exc:
        # Exit and let Kubernetes restart us as a follower: never two leaders at once.
        logging.getLogger("taskops.operator").error("%s; exiting", exc)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    if args.command == "operator":
        return _run_operator(args)
    if args.command == "api":
        from taskops.api.main import serve

        serve(args.host, args.port, args.namespace, args.default_namespace, args.kubeconfig, _api_limits(args))
        return 0
    if args.command == "webhook-key":
        return _webhook_key(args)
    if args.command == "crds":
        from taskops.crds import build_crds, render

        # Developers regenerate the repository's copies with `make crds`; this works from any install.
        print("---\n".join(render(crd) for crd in build_crds().values()), end="")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
