"""Which network addresses newsqa may fetch from.

A link in a feed is chosen by whoever writes the feed. Without a guard, it could
make newsqa read the user's router, an intranet wiki or a cloud metadata service
(169.254.169.254) and put the answer in the library. So only public addresses are
fetched unless ``NEWSQA_ALLOW_PRIVATE_URLS`` says otherwise: ``1`` allows every
address, a comma-separated list of networks (``10.1.0.0/16,192.168.1.5``) allows
those only.

The check runs on the addresses a host name resolves to, every time a connection
is opened (see :mod:`newsqa.fetch`), so neither a redirect nor a name that changes
its answer between two look-ups slips past it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_YES = frozenset({"1", "true", "yes", "on", "all"})
_NO = frozenset({"", "0", "false", "no", "off", "none"})
# 100.64.0.0/10 is neither "private" nor global in Python's tables: name it.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# NAT64 (RFC 6052) maps every IPv4 address into this prefix, loopback included.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_kind(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is ("a loopback address"), or None."""
    address = _embedded_ipv4(address)
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "a shared address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((kind for matched, kind in checks if matched), None)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses always; non-public ones when allowed (all, or some networks)."""

    allow_all: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, value: str) -> AddressPolicy:
        """Read a ``NEWSQA_ALLOW_PRIVATE_URLS`` value; ValueError names a bad entry."""
        value = value.strip()
        if value.lower() in _YES:
            return cls(allow_all=True)
        if value.lower() in _NO:
            return cls()
        networks: list[IPNetwork] = []
        for part in value.split(","):
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"{part.strip()!r} is not an IP address or network; "
                    "use 1 to allow all, or e.g. 10.1.0.0/16,192.168.1.5"
                ) from None
        return cls(allowed=tuple(networks))

    def refusal(self, host: str, address: str) -> str | None:
        """Why ``host``, resolved to ``address``, must not be fetched; None if it may."""
        if self.allow_all:
            return None
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
        kind = address_kind(ip)
        if kind is None:
            return None
        plain = _embedded_ipv4(ip)
        if any(plain.version == n.version and plain in n for n in self.allowed):
            return None
        where = f"{ip} is" if host.strip("[]") == str(ip) else f"{host} resolves to {ip},"
        return (
            f"refused: {where} {kind} (set NEWSQA_ALLOW_PRIVATE_URLS=1 to allow local and "
            "private addresses)"
        )
