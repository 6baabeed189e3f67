"""`kubectl-taskops`: the plugin's command line (kubectl finds it on PATH as `kubectl taskops`)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from taskops.clients.errors import ApiError
from taskops.kubectl import completion, exits, output
from taskops.kubectl.session import CliError, Session

PROG = "kubectl taskops"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def duration(text: str) -> float:
    """A Go-style duration as kubectl takes them: `90`, `30s`, `5m`, `1h30m`, `1.5h`."""
    parts = _DURATION.findall(text.strip())
    if not text.strip() or "".join(n + (u or "") for n, u in parts) != text.strip():
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (like 30s, 5m, 1h30m)")
    return sum(float(n) * _UNIT[u or None] for n, u in parts)


def priority(text: str) -> int:
    value = int(text)
    if not -1000 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be between -1000 and 1000 (higher runs first), got {value}")
    return value


Command = Callable[[str, str], argparse.ArgumentParser]
WRITTEN = ("name", "json", "yaml")
_RUN = "the Run's name, or its integer id (the REST API's)"
_TASK = "the Task's name, or the API name it was created with (like etl:nightly)"


def _target(p: argparse.ArgumentParser) -> None:
    """`cancel RUN`, `cancel run RUN` or `cancel task TASK` (and the same for resume)."""
    p.add_argument(
        "kind",
        nargs="?",
        choices=("run", "task"),
        default="run",
        metavar="run|task",
        help="what NAME is (default: run)",
    )
    p.add_argument("name", metavar="NAME", help="the Run (its name or integer id) or the Task")


EXIT_CODES = """exit codes (docs/cli.md):
  0        ok; with --wait or --follow: the run SUCCEEDED
  1-255    with --wait or --follow: the run FAILED with this container exit code
  1        an error (refused by the API server, not found, ...)
  2        a malformed command line
  3        the batch run ended PARTIAL_SUCCEEDED
  65       invalid params, --version or --agent (nothing created), or the run is INVALID
  124      --timeout elapsed before the run ended (it goes on)
  130      the run was STOPPED (canceled, skipped, missed, queue_full, dst_skipped)
  142      an attempt ran past its deadline (end reason timeout)
"""


# Each command's `examples:` section, as kubectl's --help has (tests/unit/kubectl/test_main.py parses every line).
EXAMPLES = {
    "run": """
  kubectl taskops run hello --wait                   # print the run's name, wait, exit with its exit code
  kubectl taskops run report -p day=2026-12-01 -p limit=5 --follow   # stream every attempt's log
  kubectl taskops run report -p 'cfg:={"a": 1}' --version 2 --priority 100 -o name
  kubectl taskops run resize --inputs images.jsonl --wait --timeout 30m   # a batch run: a progress bar""",
    "wait": """
  kubectl taskops wait hello-x7k2p --timeout 5m      # exit 124 if it has not ended by then
  kubectl taskops wait 1042 -f                       # a run by its integer id, following its logs""",
    "get": """
  kubectl taskops get runs --task hello --phase FAILED
  kubectl taskops get runs -o wide
  kubectl taskops get run hello-x7k2p -o yaml
  kubectl taskops get tasks -n batch-jobs""",
    "describe": """
  kubectl taskops describe run hello-x7k2p""",
    "logs": """
  kubectl taskops logs hello-x7k2p
  kubectl taskops logs hello-x7k2p -f                # every attempt, retries included, until the run ends""",
    "cancel": """
  kubectl taskops cancel hello-x7k2p                 # the run ends STOPPED
  kubectl taskops cancel task nightly                # the Task, for good""",
    "resume": """
  kubectl taskops resume hello-x7k2p                 # a new run with the same version and params
  kubectl taskops resume task nightly                # a paused or snoozed Task""",
    "pause": """
  kubectl taskops pause task nightly""",
    "snooze": '\n  kubectl taskops snooze task nightly --for 2h --reason "maintenance window"',
    "versions": """
  kubectl taskops versions hello""",
    "trigger": """
  kubectl taskops trigger deployed --id release-42 -p release=42""",
    "completion": """
  source <(kubectl taskops completion bash)
  source <(kubectl taskops completion zsh)""",
}


def _out_flag(p: argparse.ArgumentParser, choices: tuple[str, ...] = output.FORMATS, default: str = "a table") -> None:
    # "table" is the default's name only: what it prints is `default`.
    shown = "|".join(c for c in choices if c != "table")
    p.add_argument(
        "-o", "--output", choices=choices, default="table", metavar="FORMAT", help=f"{shown} (default: {default})"
    )


def _written_flag(p: argparse.ArgumentParser, default: str) -> None:
    """A write's -o, as kubectl's patch and create have: the object written, or its name, instead of a message."""
    p.add_argument(
        "-o",
        "--output",
        choices=WRITTEN,
        default=None,
        metavar="FORMAT",
        help=f"{'|'.join(WRITTEN)}: print what was written (json|yaml: the object as the API server has it; "
        f"default: {default})",
    )


def _waiting(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=duration,
        default=None,
        metavar="D",
        help="stop waiting after this (30s, 5m, 1h30m; default: no limit); exit 124, the run goes on",
    )


def _run_commands(command: Command) -> None:
    from taskops.kubectl import commands  # see _dispatch

    p = command("run", "Run a Task: validate its params against the Task's schema, create the Run, print its name.")
    p.add_argument("task", metavar="TASK", help=_TASK)
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a param: VALUE is text for a string param, JSON for the others; NAME:=JSON takes any JSON "
        "(null omits the param)",
    )
    p.add_argument("--version", default=None, help='the version to run: "current" (default), a number or a version id')
    p.add_argument("--agent", default=None, help="the Agent to queue for (default: the Task's)")
    p.add_argument("--priority", type=priority, default=None, help="-1000..1000, higher first (default: the Task's)")
    p.add_argument("--inputs", metavar="FILE", help="a batch run: a JSON array or JSON lines, one input each (- stdin)")
    p.add_argument("--wait", action="store_true", help="wait until the run ends and exit with its exit code")
    p.add_argument("-f", "--follow", action="store_true", help="stream every attempt's log until the run ends (waits)")
    _waiting(p)
    _out_flag(p, ("table", "name", "json", "yaml"), "the run's name; json|yaml: the Run created, or ended with --wait")

    p = command("wait", "Wait for a Run to end (a batch run shows its progress) and exit with its exit code.")
    p.add_argument("name", metavar="RUN", help=_RUN)
    p.add_argument("-f", "--follow", action="store_true", help="stream the logs of every attempt while waiting")
    _waiting(p)
    _out_flag(p, ("table", "json", "yaml"), "status lines and a summary; json|yaml: the Run as it ended")

    p = command("get", "List or get runs, tasks or agents, as kubectl get does (the CRDs' columns).")
    p.add_argument("kind", choices=sorted(commands.PLURALS), metavar="runs|tasks|agents", help="what to list")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these (default: all in the namespace)")
    p.add_argument("--task", default=None, help="runs of this Task only")
    p.add_argument("--phase", default=None, help="runs in this phase only (RUNNING, FAILED, ...)")
    _out_flag(p)

    p = command("describe", "Show a Run in full: attempts, history steps, result, webhook state, conditions, events.")
    p.add_argument("kind", choices=("run", "runs", "trun"), metavar="run", help="what to describe (runs only)")
    p.add_argument("name", metavar="RUN", help=_RUN)

    p = command("logs", "Print a Run's log (its current attempt's pod); -f follows every attempt until the run ends.")
    p.add_argument("name", metavar="RUN", help=_RUN)
    p.add_argument("-f", "--follow", action="store_true", help="follow the log through retries until the run ends")


def _task_commands(command: Command) -> None:
    p = command("cancel", "Cancel a Run (it ends STOPPED), or `cancel task TASK`: cancel a Task for good.")
    _target(p)
    _written_flag(p, "run.taskops.dev/NAME canceled")

    p = command("resume", "Resume a STOPPED, FAILED or PARTIAL_SUCCEEDED Run, or `resume task TASK` (paused, snoozed).")
    _target(p)
    _written_flag(p, "the new run's name, or KIND/NAME resumed")

    p = command("pause", "Pause a Task: `pause task TASK` (its schedule fires no runs until resumed).")
    p.add_argument("kind", choices=("task",), metavar="task", help="the word `task` (only Tasks are paused)")
    p.add_argument("task", metavar="TASK", help=_TASK)
    _written_flag(p, "task.taskops.dev/TASK paused")

    p = command("snooze", "Snooze a Task: `snooze task TASK --for 2h` delays its next fire (at most a week).")
    p.add_argument("kind", choices=("task",), metavar="task", help="the word `task` (only Tasks are snoozed)")
    p.add_argument("task", metavar="TASK", help=_TASK)
    p.add_argument(
        "--for", dest="delay", type=duration, required=True, metavar="D", help="how long (30m, 2h, 1d; at most 7d)"
    )
    p.add_argument("--reason", default=None, help="why (shown on the Task)")
    _written_flag(p, "task.taskops.dev/TASK snoozed until TIME")

    p = command("versions", "List a Task's immutable versions, newest first (* marks the current one).")
    p.add_argument("task", metavar="TASK", help=_TASK)
    _out_flag(p, ("table", "name", "json", "yaml"))

    p = command("trigger", "Fire an event: one Run of every active event Task listening to EVENT (once per --id).")
    p.add_argument("event", metavar="EVENT", help="the event's name (an event Task's schedule)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a param (as in run)")
    p.add_argument("--id", default=None, help="the event's id: firing the same id again creates nothing new")
    _written_flag(p, "the runs' names")

    p = command("completion", "Print a shell completion script: source <(kubectl taskops completion bash).")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell the script is for")


def _parser() -> argparse.ArgumentParser:
    # kubectl passes every flag after `taskops` to the plugin: the connection flags are accepted before and after
    # the command (`kubectl taskops -n ns get runs`, `kubectl taskops get runs -n ns`).
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("-n", "--namespace", default=argparse.SUPPRESS, help="the namespace (default: the context's)")
    conn.add_argument("--context", default=argparse.SUPPRESS, help="the kubeconfig context to use")
    conn.add_argument(
        "--kubeconfig", default=argparse.SUPPRESS, help="kubeconfig (default: $KUBECONFIG, ~/.kube/config)"
    )
    top = argparse.ArgumentParser(
        prog=PROG,
        parents=[conn],
        description="Run, wait for, follow, cancel and resume taskops Runs; operate Tasks.\n\n"
        "Talks to the Kubernetes API with your kubeconfig (no taskops API server needed): what you may do\n"
        "is what your RBAC allows. `kubectl taskops COMMAND --help` shows a command's flags and examples;\n"
        "docs/cli.md has them all.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[conn],
            help=help_,
            description=help_,
            epilog="examples:" + EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    _run_commands(command)
    _task_commands(command)
    return top


def _dispatch(a: argparse.Namespace, out: TextIO) -> Callable[[Session], Awaitable[int]]:
    # Imported here, not at the top: the commands bring the API's models and the domain (a third of a second of
    # CPU), which `__complete` (every TAB) does not need.
    from taskops.kubectl import commands

    c = a.command
    if c in ("cancel", "resume"):
        name = a.name
        if a.kind == "task":
            return lambda s: commands.task_state(s, name, "canceled" if c == "cancel" else "active", a.output, out)
        return lambda s: (commands.cancel_run if c == "cancel" else commands.resume_run)(s, name, a.output, out)
    simple: dict[str, Callable[[Session, argparse.Namespace, TextIO], Awaitable[int]]] = {
        "run": commands.run,
        "wait": commands.wait,
        "get": commands.get,
        "describe": commands.describe,
        "logs": commands.logs,
        "versions": commands.versions,
        "trigger": commands.trigger,
    }
    if c in simple:
        return lambda s: simple[c](s, a, out)
    if c == "pause":
        return lambda s: commands.task_state(s, a.task, "paused", a.output, out)
    return lambda s: commands.snooze_task(s, a.task, a.delay, a.reason, a.output, out)


async def _main(a: argparse.Namespace, out: TextIO) -> int:
    action = _dispatch(a, out)
    session = Session.open(getattr(a, "kubeconfig", None), getattr(a, "context", None), getattr(a, "namespace", None))
    async with session.client:
        return await action(session)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    argv = sys.argv[1:] if argv is None else argv
    if "__complete" in argv:  # from the completion scripts: the words typed so far, connection flags included
        at = argv.index("__complete")
        return completion.complete(argv[:at] + argv[at + 1 :], out)
    a = _parser().parse_args(argv)
    if a.command == "completion":
        print(completion.script(a.shell), file=out)
        return exits.OK
    try:
        return asyncio.run(_main(a, out))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except ApiError as exc:
        # kubectl's form: `Error from server (Forbidden): runs.taskops.dev is forbidden: User ...`
        print(f"Error from server ({exc.reason or exc.status}): {exc.message}", file=sys.stderr)
        return exits.ERROR
    except OSError as exc:
        print(f"error: cannot reach the cluster: {exc}", file=sys.stderr)
        return exits.ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
