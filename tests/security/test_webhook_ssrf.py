"""Issue 18 section 3: a tenant's callbackUrl cannot make the operator reach what it should not, blow up its
memory, or stall the other tenants' webhooks (docs/security.md section 3).

These tests run their own operator (the session's is stopped meanwhile and restarted after): it names
exactly the receivers it may call, `127.0.0.1:<port>` each, so every other loopback port and address,
in any spelling, must stay unreached; and its peak memory is its own to measure.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from taskops.domain.delivery import webhooks
from tests import builders
from tests.integration.controlplane import OPERATOR_ARGS
from tests.integration.kube import Kube, wait_for
from tests.integration.processes import OperatorProcess
from tests.integration.receiver import Receiver
from tests.paths import OUTPUT

# What the bomb inflates to: a few hundred kB on the wire.
BOMB_BYTES = 256 << 20


@dataclass
class Receivers:
    named: Receiver  # the one receiver of each kind the operator is told about
    bomb: Receiver
    hang: Receiver
    prompt: Receiver


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    r = Receivers(Receiver(), Receiver(), Receiver(), Receiver())
    yield r
    for each in (r.named, r.bomb, r.hang, r.prompt):
        each.stop()


@pytest.fixture(scope="module")
def hook_operator(
    operator_process: OperatorProcess, identities: dict[str, Path], receivers: Receivers
) -> Iterator[OperatorProcess]:
    named = ",".join(f"127.0.0.1:{r.port}" for r in (receivers.named, receivers.bomb, receivers.hang, receivers.prompt))
    args = (*(a for a in OPERATOR_ARGS if not a.startswith("--webhook-allow=")), f"--webhook-allow={named}")
    operator_process.stop()
    proc = OperatorProcess(identities["operator"], OUTPUT / "logs", name="operator-webhook-ssrf", args=args)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        operator_process.start()


def hook(kube: Kube, ns: str, run: str) -> dict[str, Any]:
    return dict((kube.run(ns, run).get("status") or {}).get("webhook") or {})


def settled(kube: Kube, ns: str, run: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(
        lambda: ((h := hook(kube, ns, run)).get("state") in ("delivered", "failed") and h) or None,
        timeout,
        what=f"the webhook of {run} to settle",
    )


def memory(proc: OperatorProcess, field: str) -> int:
    assert proc.proc is not None
    for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{proc.proc.pid}/status")


def test_no_spelling_of_a_loopback_address_reaches_a_receiver(
    kube: Kube, ns: str, hook_operator: OperatorProcess, receivers: Receivers
) -> None:
    """The issue's reproduction (`http://[::ffff:127.0.0.1]:PORT/`) and every other way to write an address the
    operator does not name: mapped, compatible, NAT64, 6to4, integer/hex/octal/short IPv4, a name, ::1."""
    other = Receiver()  # 127.0.0.1, on a port the operator does not name
    second = Receiver(host="127.0.0.2")
    six = Receiver(host="::1")
    p1, p2, p6 = other.port, second.port, six.port
    urls = {
        "mapped": f"http://[::ffff:127.0.0.1]:{p1}/x",
        "mapped-hex": f"http://[::ffff:7f00:1]:{p1}/x",
        "compat": f"http://[::127.0.0.1]:{p1}/x",
        "localhost": f"http://localhost:{p1}/x",
        "short": f"http://127.1:{p1}/x",
        "integer": f"http://2130706433:{p1}/x",
        "plain": f"http://127.0.0.1:{p1}/x",
        "mapped-2": f"http://[::ffff:127.0.0.2]:{p2}/x",
        "nat64": f"http://[64:ff9b::7f00:2]:{p2}/x",
        "sixtofour": f"http://[2002:7f00:2::]:{p2}/x",
        "hex": f"http://0x7f000002:{p2}/x",
        "octal": f"http://0177.0.0.2:{p2}/x",
        "integer-2": f"http://2130706434:{p2}/x",
        "plain-2": f"http://127.0.0.2:{p2}/x",
        "ipv6": f"http://[::1]:{p6}/x",
        "ipv6-long": f"http://[0:0:0:0:0:0:0:1]:{p6}/x",
        "metadata-mapped": "http://[::ffff:169.254.169.254]/latest/meta-data",
    }
    try:
        kube.create(ns, builders.task("t"))
        kube.create(ns, builders.run("control", "t", callbackUrl=receivers.named.url("/control")))
        for name, url in urls.items():
            kube.create(ns, builders.run(name, "t", callbackUrl=url))
        control = settled(kube, ns, "control")
        assert control["state"] == "delivered", control
        wait_for(lambda: all(hook(kube, ns, name).get("attempts") for name in urls) or None, 60, what="an attempt each")
        time.sleep(1)
        states = {name: hook(kube, ns, name) for name in urls}
        reached = {r.host: sorted({q.headers.get("Host", "") for q in r.requests}) for r in (other, second, six)}
    finally:
        for r in (other, second, six):
            r.stop()
    assert {h: got for h, got in reached.items() if got} == {}, f"reached (by Host header) {reached}"
    wrong = {
        n: (h.get("state"), h.get("attempts"), h.get("lastError"))
        for n, h in states.items()
        if (h.get("state"), h.get("attempts")) != ("failed", 1) or not h["lastError"].startswith("denied: ")
    }
    assert wrong == {}, wrong
    # The tenant learns that the host is not allowed, not which address its name had.
    assert all("127.0.0" not in h["lastError"] for h in states.values())


def test_a_gzip_bomb_leaves_memory_flat_and_fails_once(
    kube: Kube, ns: str, hook_operator: OperatorProcess, receivers: Receivers
) -> None:
    pack = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(pack.compress(chunk) for _ in range(BOMB_BYTES >> 20)) + pack.flush()
    receivers.bomb.script["/bomb"] = [400]
    receivers.bomb.bodies["/bomb"] = ({"Content-Encoding": "gzip", "Content-Type": "text/plain"}, bomb)
    kube.create(ns, builders.task("t"))
    # A delivery first, so the peak below is the operator's after it has sent webhooks, not at start-up.
    kube.create(ns, builders.run("warm", "t", callbackUrl=receivers.named.url("/warm")))
    settled(kube, ns, "warm")
    before = memory(hook_operator, "VmHWM")
    kube.create(ns, builders.run("bomb", "t", callbackUrl=receivers.bomb.url("/bomb")))
    state = settled(kube, ns, "bomb")
    time.sleep(2)  # a crash-looping operator would send it again
    grew = memory(hook_operator, "VmHWM") - before
    print(f"bomb: {len(bomb)} bytes gzip, {BOMB_BYTES} inflated; operator peak RSS grew {grew >> 10} KiB")
    assert hook_operator.running() and hook_operator.starts == 1
    assert (state["state"], state["attempts"], state["statusCode"]) == ("failed", 1, 400), state
    assert len(receivers.bomb.to("/bomb")) == 1
    assert grew < 16 << 20, f"peak RSS grew {grew >> 20} MiB"


def test_hanging_receivers_do_not_delay_another_tasks_webhook(
    kube: Kube, ns: str, hook_operator: OperatorProcess, receivers: Receivers
) -> None:
    receivers.hang.hang.add("/hang")
    hanging = 24  # more than the operator's 16 delivery workers
    kube.create(ns, builders.task("slow", successfulRunsHistoryLimit=100))
    kube.create(ns, builders.task("fast"))
    for i in range(hanging):
        kube.create(ns, builders.run(f"h{i}", "slow", callbackUrl=receivers.hang.url("/hang")))

    def all_ended() -> bool:
        runs = [r for r in kube.runs(ns) if r["metadata"]["name"].startswith("h")]
        return len(runs) == hanging and all((r.get("status") or {}).get("endTime") for r in runs)

    wait_for(all_ended, 120, interval=0.5, what="the hanging receiver's runs to end")
    wait_for(lambda: receivers.hang.held >= 4 or None, 30, what="attempts hanging")
    created = time.monotonic()
    kube.create(ns, builders.run("quick", "fast", callbackUrl=receivers.prompt.url("/quick")))
    got = wait_for(lambda: receivers.prompt.to("/quick"), 60, interval=0.1, what="the other task's delivery")
    lag = got[0].at - created
    in_flight = receivers.hang.held
    print(f"hanging receiver: {in_flight} attempts in flight; the other task's webhook came {lag:.1f}s after its run")
    # A run of a busybox Task ends in a few seconds; one hanging attempt alone lasts 20 s (connect 5 + read 15).
    assert lag < 12, f"the other task's webhook waited {lag:.1f}s behind a hanging receiver"
    assert in_flight <= 4, "more attempts in flight to one receiver than --webhook-per-host"
    assert webhooks.receiver(receivers.hang.url("/hang")) != webhooks.receiver(receivers.prompt.url("/quick"))
