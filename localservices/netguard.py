"""Refusing to crawl private, loopback and other non-public addresses (SSRF protection).

The development setup and the tests crawl the local sample site on 127.0.0.1, so the
scraper is started with ``allow_private=True`` there; anywhere else this guard is on.
"""

from __future__ import annotations

import ipaddress
import socket


class PrivateAddressError(ValueError):
    """The host is, or resolves to, an address that is not publicly routable."""


def ensure_public(host: str) -> None:
    """Raise PrivateAddressError unless every address of ``host`` is public.

    A host that does not resolve passes: fetching it fails with ENOTFOUND, which is the
    error a client should see for it.
    """
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            raise PrivateAddressError(f"{host} resolves to a non-public address ({address})")
