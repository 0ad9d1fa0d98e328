"""Is Orthanc answering through Envoy at an address? One HTTPS GET that trusts only the site
certificate."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from orthweb.shared.constants import HTTPS_PORT

# Orthanc's REST root behind Envoy. Without credentials Orthanc answers 401; Envoy answers 503
# when no replica passes its database-touching health check. So "< 500" means Orthanc answered.
HEALTH_PATH = "/system"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


class HealthProbe(Protocol):
    def __call__(self, address: str) -> ProbeResult: ...


# Given the site certificate (PEM), returns the probe to use.
ProbeFactory = Callable[[str], HealthProbe]


def https_probe(
    certificate_pem: str,
    *,
    port: int = HTTPS_PORT,
    path: str = HEALTH_PATH,
    timeout: float = 5.0,
    connect_to: Callable[[str], str] | None = None,
) -> HealthProbe:
    """GET https://<address>:<port><path>, trusting only the site certificate.

    The chain is verified against the site certificate alone; the host name is not, because a
    host's own IP is not in the certificate (its SAN names the site DNS name and address).
    `connect_to` maps the address to the socket to dial (tests point it at 127.0.0.1).
    """
    context = ssl.create_default_context(cadata=certificate_pem)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def probe(address: str) -> ProbeResult:
        host = connect_to(address) if connect_to else address
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        try:
            connection.request("GET", path, headers={"Host": address, "User-Agent": "orthweb-failover"})
            status = connection.getresponse().status
        except ssl.SSLCertVerificationError as error:
            return ProbeResult(False, f"TLS certificate not the site certificate ({error.verify_message})")
        except (OSError, http.client.HTTPException) as error:
            return ProbeResult(False, f"no HTTPS answer ({error.__class__.__name__}: {error})")
        finally:
            connection.close()
        if status >= 500:
            return ProbeResult(False, f"HTTP {status} (Envoy has no healthy Orthanc replica)")
        return ProbeResult(True, f"HTTP {status} from Orthanc through Envoy")

    return probe
