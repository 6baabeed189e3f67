"""The `taskops` command: `taskops operator`, `taskops api`, `taskops crds` (print the CRDs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from taskops import logs
from taskops.domain.webhooks import DEFAULT_DENY


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

    sub.add_parser("crds", help="print the CRDs (generated from the models): taskops crds | kubectl apply -f -")
    return parser


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
    hooks = op.add_argument_group("completion webhooks (docs/webhooks.md)")
    hooks.add_argument("--webhook-secret", metavar="NAMESPACE/NAME", help="Secret whose `secret` key signs webhooks")
    hooks.add_argument(
        "--webhook-allow", default="", metavar="LIST", help="comma-separated hosts (.suffix) and CIDRs; default: any"
    )
    hooks.add_argument(
        "--webhook-deny",
        default=",".join(DEFAULT_DENY),
        metavar="LIST",
        help="comma-separated hosts and CIDRs never called (default: loopback, link-local, metadata)",
    )
    hooks.add_argument("--webhook-backoff-seconds", type=float, default=2.0, help="first retry delay (default 2)")
    hooks.add_argument("--webhook-max-backoff-seconds", type=float, default=300.0, help="retry delay cap (300)")
    hooks.add_argument("--webhook-deadline-seconds", type=float, default=86400.0, help="give up after (86400)")
    hooks.add_argument("--webhook-timeout-seconds", type=float, default=15.0, help="read timeout (connect: 5)")


def _run_operator(args: argparse.Namespace) -> int:
    from taskops.operator.leader import LostLeadership
    from taskops.operator.main import LeaderOptions, Options, run, webhook_options

    leader = None
    if args.leader_elect:
        if args.lease_duration_seconds < 2:
            raise SystemExit("--lease-duration-seconds must be at least 2")
        leader = LeaderOptions(args.lease_namespace, args.lease_name, duration=args.lease_duration_seconds)
    options = Options(
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        workers=args.workers,
        webhook=webhook_options(args),
        leader=leader,
        metrics_port=args.metrics_port,
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

        serve(args.host, args.port, args.namespace, args.default_namespace, args.kubeconfig)
        return 0
    if args.command == "crds":
        from taskops.crds import build_crds, render

        # Developers regenerate the repository's copies with `make crds`; this works from any install.
        print("---\n".join(render(crd) for crd in build_crds().values()), end="")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
