"""Is an IP address public? The address policy behind ``image_url`` fetching.

Python's ``ipaddress`` flags do most of the work; the extra care is for addresses that carry
another address inside them (IPv4-mapped, 6to4, NAT64), which are judged by what they reach.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# NAT64 (RFC 6052) puts an IPv4 address in the low 32 bits; ``ipaddress`` calls it global.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def canonical(ip: IPAddress) -> IPAddress:
    """``::ffff:a.b.c.d`` is the IPv4 host a.b.c.d; checking and connecting use that."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal_reason(ip: IPAddress) -> tuple[str, str] | None:
    """Why ``ip`` is not a public address (English with article, Chinese), or None if it is."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None and (inner := refusal_reason(embedded)) is not None:
        return f"{inner[0]} (embedded {embedded})", inner[1]
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    checks = (
        (ip.is_loopback, "a loopback", "回环地址"),
        (ip.is_unspecified, "an unspecified", "未指定地址"),
        (ip.is_link_local, "a link-local", "链路本地地址"),
        (ip.is_multicast, "a multicast", "组播地址"),
        (site_local, "a site-local", "站点本地地址"),
        (ip.is_private, "a private", "私有地址"),
        (ip.is_reserved, "a reserved", "保留地址"),
        (not ip.is_global, "a non-public", "非公网地址"),
    )
    return next(((en, cn) for hit, en, cn in checks if hit), None)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 host a 6to4 or NAT64 address reaches (Teredo is refused as non-global)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None
