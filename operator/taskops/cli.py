"""The `taskops` command: `taskops operator`, `taskops api`, `taskops crds`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from taskops.domain.webhooks import DEFAULT_DENY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskops", description="Tasks as Kubernetes custom resources.")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    op = sub.add_parser("operator", help="run the operator (watches Tasks and Runs, makes Jobs)")
    op.add_argument("--namespace", help="watch only this namespace (default: all namespaces)")
    op.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    op.add_argument("--workers", type=int, default=4, help="concurrent reconciles (default 4)")
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

    api = sub.add_parser("api", help="serve the REST API (every write is a Task or Run write)")
    api.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    api.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    api.add_argument("--namespace", help="serve only this namespace (default: all, chosen per request)")
    api.add_argument("--default-namespace", default="default", help="namespace when a request names none")
    api.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")

    crds = sub.add_parser("crds", help="write or check the CRD YAML generated from the models")
    crds.add_argument("--check", action="store_true")

    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "operator":
        from taskops.operator.main import run, webhook_options

        options = webhook_options(args)
        asyncio.run(run(namespace=args.namespace, kubeconfig=args.kubeconfig, workers=args.workers, webhook=options))
        return 0
    if args.command == "api":
        from taskops.api.main import serve

        serve(args.host, args.port, args.namespace, args.default_namespace, args.kubeconfig)
        return 0
    if args.command == "crds":
        from taskops.crds import main as crds_main

        return crds_main(["--check"] if args.check else [])
    return 2


if __name__ == "__main__":
    sys.exit(main())
