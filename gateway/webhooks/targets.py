"""Which addresses the gateway may POST webhooks and callbacks to (`[webhooks] allowed_hosts`).

A key that may register a webhook or a callback_url must not be able to make the gateway talk to its
own services (an admin page on 127.0.0.1, a cloud metadata address on 169.254.169.254): loopback and
link-local targets are refused unless listed. LAN addresses stay allowed, since the POS lives there.
The rule is applied twice: to the URL when it is registered (a literal address or a loopback name,
for a clear 422), and to the address a name resolves to at connect time (a name can point anywhere,
and change), which is the check that counts. Pure: no DNS lookups here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# names that mean this machine whatever DNS says (RFC 6761 §6.3)
_LOOPBACK_NAMES = ("localhost", "localhost.", "ip6-localhost", "ip6-loopback")


def is_internal(address: Address) -> bool:
    """Loopback (127.0.0.0/8, ::1) or link-local (169.254.0.0/16, fe80::/10), also as an
    IPv4-mapped IPv6 address; the unspecified address (0.0.0.0, ::) reaches this machine too."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_link_local or address.is_unspecified


def parse_allowed(entry: str) -> str | Network:
    """One `allowed_hosts` entry: an address or network (127.0.0.1, 10.0.0.0/8, ::1) or a host name.
    ValueError says what is wrong with it."""
    text = entry.strip()
    if not text:
        raise ValueError("an empty entry")
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    name = text.lower().rstrip(".")
    if not name or any(c in name for c in "/:@ ") or not all(part for part in name.split(".")):
        raise ValueError(f"{entry!r} is not a host name, an address or a network")
    return name


@dataclass(frozen=True)
class TargetPolicy:
    """`allowed_hosts` as parsed; `refusal_*` give the reason a target is refused, or None."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, allowed_hosts: Iterable[str]) -> TargetPolicy:
        names: set[str] = set()
        networks: list[Network] = []
        for entry in allowed_hosts:
            parsed = parse_allowed(entry)
            if isinstance(parsed, str):
                names.add(parsed)
            else:
                networks.append(parsed)
        return cls(frozenset(names), tuple(networks))

    def _listed(self, host: str, address: Address | None) -> bool:
        if host.lower().rstrip(".") in self.names:
            return True
        if address is None:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks if network.version == address.version)

    def refusal_of_url(self, url: str) -> str | None:
        """What is wrong with a URL's host as written (a literal internal address, or a loopback
        name); names that resolve to one are refused when the delivery connects."""
        host = (urlsplit(url).hostname or "").lower()
        try:
            address: Address | None = ipaddress.ip_address(host)
        except ValueError:
            address = None
        internal = is_internal(address) if address is not None else host.rstrip(".") in _LOOPBACK_NAMES \
            or host.rstrip(".").endswith(".localhost")
        if internal and not self._listed(host, address):
            return f"{host} is a loopback or link-local address: add it to [webhooks] allowed_hosts to allow it"
        return None

    def refusal_of_address(self, host: str, address: Address) -> str | None:
        """Why a connection to `address` (which `host` resolved to) is refused, or None."""
        if is_internal(address) and not self._listed(host, address):
            return (f"{host} resolves to {address}, a loopback or link-local address "
                    "not in [webhooks] allowed_hosts")
        return None
