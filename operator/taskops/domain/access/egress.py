"""Which hosts and addresses the operator may call on a tenant's behalf (completion webhooks).

A callback URL is written by a tenant, and the operator calls it from inside the
cluster, so the default answer for anything that is not the public internet is
no: loopback, link-local (cloud instance metadata), private and shared ranges
(RFC 1918, ULA, CGNAT), and whatever the operator adds (the cluster's pod and
service ranges). An operator lifts that for a receiver by naming it
(`--webhook-allow`): a host name, an address or a CIDR, optionally with a port.

Every address is checked in every form it can take. An IPv6 address that
carries an IPv4 one (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
`64:ff9b::/96`, 6to4 `2002::/16`, Teredo) is checked as that IPv4 address too,
and an IPv4 literal in any form `inet_aton` accepts (`2130706433`,
`0x7f000001`, `0177.0.0.1`, `127.1`) is read as the address it is.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What no tenant's webhook may reach unless the operator names it in --webhook-allow.
DEFAULT_DENY: tuple[str, ...] = (
    # "this host" and unspecified: connecting to them reaches the operator's own pod
    "0.0.0.0/8",
    "::/128",
    # loopback
    "127.0.0.0/8",
    "::1/128",
    # link-local: cloud instance metadata (169.254.169.254, and AWS's fd00:ec2::254 is in the ULA range below)
    "169.254.0.0/16",
    "fe80::/10",
    # private (RFC 1918), unique local (ULA), shared address space (CGNAT; Alibaba's metadata 100.100.100.200)
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
    "100.64.0.0/10",
    # special purpose: IETF protocol assignments, documentation, benchmarking, multicast, reserved, broadcast
    "192.0.0.0/24",
    "192.0.2.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "100::/64",
    "2001:db8::/32",
    "fec0::/10",
    "ff00::/8",
    # NAT64 local-use prefixes embed IPv4 addresses at operator-chosen offsets: refuse them whole
    "64:ff9b:1::/48",
)
# Even a host allowed by name may not resolve to these: only an address or CIDR entry in --webhook-allow
# lifts them. A name's DNS answer is not the operator's to trust with its own pod or the metadata service:
# tenants can add names under a cluster domain (an ExternalName Service, a Service with Endpoints they write).
NAME_NEVER: tuple[str, ...] = ("0.0.0.0/8", "::/128", "127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10",
                               "fd00:ec2::254/128", "100.100.100.200/32", "224.0.0.0/4", "ff00::/8")  # fmt: skip
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")
_NAME = re.compile(r"^\*?\.?[a-z0-9_]([a-z0-9_.-]{0,252})$")


def ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """`host` read as inet_aton reads it (1 to 4 parts, each decimal, 0x-hex or 0-octal), or None."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part[0] == "0":
                values.append(int(part[1:], 8))
            else:
                values.append(int(part, 10) if part.isdigit() else -1)
        except ValueError:
            return None
    if any(v < 0 for v in values):
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    return ipaddress.IPv4Address(number * 256 ** (4 - len(head)) + last)


def literal(host: str) -> Address | None:
    """The address a URL's host names without DNS: an IPv6 literal (brackets, zone allowed) or any IPv4 form."""
    host = host.strip("[]").lower()
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return ipv4_literal(host)


def carried(ip: Address) -> list[Address]:
    """The addresses a connection to `ip` reaches: `ip`, or the IPv4 address inside it, or both."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    if ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return [low32]
    if ip in _COMPAT and int(ip) > 1:
        return [low32]
    out: list[Address] = [ip]
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    return out


@dataclass(frozen=True)
class Entry:
    """One --webhook-allow / --webhook-deny item: a host name (".suffix" for a domain), or an address/CIDR."""

    name: str | None = None
    net: Network | None = None
    port: int | None = None

    def names(self, host: str, port: int) -> bool:
        if self.name is None or (self.port is not None and self.port != port):
            return False
        return host == self.name.lstrip(".") or (self.name.startswith(".") and host.endswith(self.name))

    def covers(self, ip: Address, port: int) -> bool:
        return self.net is not None and (self.port is None or self.port == port) and ip in self.net


def parse_entry(text: str) -> Entry:
    """`host`, `.domain`, `*.domain`, `host:port`, `1.2.3.4`, `1.2.3.4:443`, `[::1]:8080`, `::1`, `10.0.0.0/8`."""
    raw = text.strip().lower().rstrip(".")
    port: int | None = None
    if raw.startswith("["):
        inside, _, rest = raw[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), text)
        raw = inside
    elif raw.count(":") == 1:
        raw, _, number = raw.partition(":")
        port = _port(number, text)
    if "/" in raw:
        try:
            return Entry(net=ipaddress.ip_network(raw, strict=False), port=port)
        except ValueError:
            raise ValueError(f"{text!r} is not a CIDR") from None
    address = literal(raw)
    if address is not None:
        return Entry(net=ipaddress.ip_network(address), port=port)
    if not _NAME.match(raw):
        raise ValueError(f"{text!r} is neither a host name, an address nor a CIDR")
    return Entry(name=raw.removeprefix("*"), port=port)


def _port(number: str, text: str) -> int:
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise ValueError(f"{text!r} has no valid port")
    return int(number)


def _in(ip: Address, nets: tuple[Network, ...]) -> bool:
    return any(ip.version == n.version and ip in n for n in nets)


@dataclass(frozen=True)
class HostPolicy:
    """`allow`: receivers named by the operator (exceptions to the deny list); `deny`: added to DEFAULT_DENY.

    `allow_only`: nothing but the allowed receivers is called (no public internet).
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allow_only: bool = False
    _allow: tuple[Entry, ...] = field(init=False, repr=False, default=())
    _deny: tuple[Entry, ...] = field(init=False, repr=False, default=())
    _never: tuple[Network, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", tuple(parse_entry(e) for e in self.allow))
        object.__setattr__(self, "_deny", tuple(parse_entry(e) for e in (*DEFAULT_DENY, *self.deny)))
        object.__setattr__(self, "_never", tuple(ipaddress.ip_network(n) for n in NAME_NEVER))

    def check(self, host: str, port: int, addresses: list[str]) -> str | None:
        """Why `host:port`, resolved to `addresses`, may not be called (for the operator's log); None: it may.

        Every address, in every form it carries, must be allowed: named by an address/CIDR entry of
        the allow list, or (for a host the allow list names) not in NAME_NEVER, or else not denied.
        """
        host = host.strip("[]").lower().rstrip(".")
        if any(e.names(host, port) for e in self._deny):
            return f"host {host} is in the webhook deny list"
        named = any(e.names(host, port) for e in self._allow)
        if not addresses:
            return f"host {host} has no address"
        for text in addresses:
            for ip in carried(ipaddress.ip_address(text)):
                if any(e.covers(ip, port) for e in self._allow):
                    continue
                if named and not _in(ip, self._never):
                    continue
                if self.allow_only:
                    return f"address {ip} of {host} is not in the webhook allow list (allow-only)"
                if any(e.covers(ip, port) for e in self._deny):
                    return f"address {ip} of {host} is in the webhook deny list"
        return None

    def check_literal(self, host: str, port: int) -> str | None:
        """check() for a URL whose host is an address (no DNS); None also for names (checked once resolved)."""
        address = literal(host)
        if address is None:
            return None
        return self.check(host, port, [str(address)])
