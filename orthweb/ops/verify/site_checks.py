"""The site as a user's browser sees it: TLS with the site certificate, login, Orthanc and its plugins."""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl

from orthweb.host.layout import APP_DIR
from orthweb.ops.verify.model import CheckFailed
from orthweb.ops.verify.site import HOSTNAME_MISMATCH, CertificateInfo
from orthweb.ops.verify.target import Target


class SiteChecks:
    def __init__(self, target: Target) -> None:
        self.target = target

    def tls(self) -> str:
        """`site.tls`: the served certificate is the site certificate and names the address."""
        deployment = self.target.deployment
        if deployment.trusted_pem is None:
            return self._public_tls()
        info = CertificateInfo.from_pem(deployment.certificate_pem)
        address = self.target.address
        try:
            version, served = self.target.client.handshake()
        except ssl.SSLCertVerificationError as error:
            if error.verify_code in HOSTNAME_MISMATCH:
                raise CheckFailed(
                    f"the site certificate names {', '.join(info.names) or 'nothing'}, not {address}",
                    f"clients of {address} will refuse it: replace the certificate (secret "
                    f"{deployment.site_tls_secret}, stack config siteCertificate) or use a name it covers "
                    f"(--address)",
                ) from None
            raise CheckFailed(
                f"the served certificate is not the site certificate ({error.verify_message})",
                f"the host serves another certificate than secret {deployment.site_tls_secret}: "
                f"`systemctl restart orthweb.service` on the host re-reads it",
            ) from None
        except ssl.SSLError as error:
            raise CheckFailed(f"TLS handshake failed: {error}", self.target.web_hint()) from None
        except OSError as error:
            raise CheckFailed(
                f"no connection to {address}:{self.target.endpoint.https_port}: {error}",
                self.target.web_hint(),
            ) from None
        if served != info.der:
            raise CheckFailed(
                "the served certificate verifies but is not the one in the secret",
                f"`systemctl restart orthweb.service` on the host re-reads secret {deployment.site_tls_secret}",
            )
        days = (info.not_after - dt.datetime.now(dt.UTC)).days
        return f"{version}, site certificate for {', '.join(info.names)}, {days} days left"

    def _public_tls(self) -> str:
        """The load balancer terminates TLS with its ACM certificate (Envoy's is behind it)."""
        address = self.target.address
        try:
            version, _ = self.target.client.handshake()
        except ssl.SSLCertVerificationError as error:
            raise CheckFailed(
                f"the load balancer's certificate does not verify for {address} ({error.verify_message})",
                "the ACM certificate may still await DNS validation: `aws acm list-certificates` shows its status",
            ) from None
        except (ssl.SSLError, OSError) as error:
            raise CheckFailed(
                f"no TLS to {address}:{self.target.endpoint.https_port}: {error}", self.target.web_hint()
            ) from None
        return f"{version}, publicly trusted certificate for {address} (served by the load balancer)"

    def login(self) -> str:
        """`site.login`: anonymous requests are refused, the generated admin credential works."""
        anonymous, _ = self.target.get("/system", authenticated=False)
        if anonymous != 401:
            raise CheckFailed(
                f"GET /system without credentials answered HTTP {anonymous}, not 401",
                f"AuthenticationEnabled must be true in {APP_DIR}/orthanc.json",
            )
        status, body = self.target.get("/system")
        if status != 200:
            raise self.target.status_failure("GET /system", status, body)
        system = json.loads(body)
        return (
            f"anonymous 401, {self.target.deployment.admin.username} 200; /system answers "
            f"(Name {system.get('Name', '?')}, DICOM AET {system.get('DicomAet', '?')})"
        )

    def orthanc(self) -> str:
        """`site.orthanc`: a recent enough Orthanc with the expected plugins loaded."""
        options = self.target.options
        status, body = self.target.get("/system")
        if status != 200:
            raise self.target.status_failure("GET /system", status, body)
        version = str(json.loads(body).get("Version", "?"))
        status, body = self.target.get("/plugins")
        if status != 200:
            raise self.target.status_failure("GET /plugins", status, body)
        plugins = sorted(str(p) for p in json.loads(body))
        problems: list[str] = []
        if _version(version) < _version(options.min_orthanc_version) and not version.startswith("mainline"):
            problems.append(f"Orthanc {version} older than {options.min_orthanc_version}")
        missing = [p for p in options.expected_plugins if p.lower() not in {q.lower() for q in plugins}]
        if missing:
            problems.append(f"plugins missing: {', '.join(missing)}")
        if problems:
            raise CheckFailed(
                f"{'; '.join(problems)} (loaded: {', '.join(plugins)})",
                "check orthancImage in deploymentOptions and the Plugins / PostgreSQL / AwsS3Storage sections of "
                f"{APP_DIR}/orthanc.json; `docker logs orthweb-orthanc-1-1` shows plugin errors",
            )
        return f"Orthanc {version}; plugins {', '.join(plugins)}"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3]) or (0,)
