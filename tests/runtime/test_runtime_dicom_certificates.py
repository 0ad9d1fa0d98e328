"""DICOM-TLS with client certificates (`dicomClientCertificates: true`), through the real Envoy.

One stack (one replica) whose DICOM client trust secret (in moto, read by the rendered
fetch-secrets.sh) holds a stack CA and the pinned fingerprints of two modalities' certificates,
made here the way `pulumi up` makes them. Each refused caller tries to store; the
test then asks Orthanc whether anything arrived, and a control stores the same instances with a
valid certificate. The certificate files are written by the code behind `orthweb modality-cert`,
so a TLS client is shown to load them as they are.

Envoy's checks: `require_client_certificate`, `trusted_ca`, `match_typed_subject_alt_names` and
`verify_certificate_hash` (envoy/api/envoy/extensions/transport_sockets/tls/v3/common.proto).
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthweb.clients.dicom import (
    CALLING_AE_NOT_RECOGNIZED,
    PENDING,
    SUCCESS,
    AssociationRejected,
    DicomEndpoint,
    make_study,
    store,
)
from orthweb.host.render import render_host_files
from orthweb.ops.client_certificates import ClientCertificate, write_private_file
from orthweb.shared.modalities import DicomModality, certificate_fingerprint, certificate_uri
from tests.runtime.conftest import ACCOUNT, REGION, instance_count, runtime_context, stored_instances
from tools.harness import Stack
from tools.harness.aws import FetchSecrets
from tools.harness.dicom import CALLING_AE, StorageListener, find_instances, local_endpoint, move_study, tls_context
from tools.harness.pki import ClientCa, issue_client_certificate, make_client_ca
from tools.harness.processes import LOOPBACK, free_port

pytestmark = pytest.mark.runtime

STACK = "certs"
OTHER_AE = "SECOND_MOD"


@dataclasses.dataclass
class CertificateSite:
    stack: Stack
    ca: ClientCa
    files: dict[str, Path]  # modality AE title -> its file, as `orthweb modality-cert` writes it
    receiver: DicomModality  # where C-MOVE delivers (the first modality)
    directory: Path

    def endpoint(self, certificate: Path | None, calling_ae: str = CALLING_AE) -> DicomEndpoint:
        context = tls_context(str(self.stack.site_ca))
        if certificate is not None:
            context.load_cert_chain(certificate)
        return local_endpoint(port=self.stack.dicom_port, tls=context, calling_ae=calling_ae)

    def write(self, name: str, certificate_pem: str, key_pem: str, ca_pem: str) -> Path:
        path = self.directory / f"{name}.pem"
        certificate = ClientCertificate(name, "", certificate_pem, ca_pem, key_pem)
        write_private_file(path, certificate.file_content(), replace=False)
        return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, secrets_source: FetchSecrets) -> Iterator[CertificateSite]:
    directory = tmp_path_factory.mktemp("client-certificates")
    ca = make_client_ca()
    receiver = DicomModality(CALLING_AE, LOOPBACK, free_port())
    modalities = (receiver, DicomModality(OTHER_AE, LOOPBACK, 104))
    issued = {m.aet: issue_client_certificate(ca, m.aet, certificate_uri(STACK, m.aet)) for m in modalities}
    # What orthweb.infra.dicom_client_certificates puts in the trust secret.
    trust = {
        "ca_certificate": ca.certificate_pem,
        "certificates": [
            {"aet": aet, "uri": certificate_uri(STACK, aet), "sha256": certificate_fingerprint(cert)}
            for aet, (cert, _) in issued.items()
        ],
    }
    context = dataclasses.replace(
        runtime_context(replicas=1, stack=STACK, dicom_modalities=modalities),
        dicom_client_trust_secret_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/{STACK}/trust-Zz9",
    )
    # Its own script runner on the session's moto: the session's stays with the session's stack.
    own_secrets = FetchSecrets(secrets_source.aws)
    with Stack(render_host_files(context), secrets=own_secrets, dicom_client_trust=trust) as running:
        made = CertificateSite(running, ca, {}, receiver, directory)
        made.files = {aet: made.write(aet, cert, key, ca.certificate_pem) for aet, (cert, key) in issued.items()}
        yield made


def _refused_without_a_trace(site: CertificateSite, endpoint: DicomEndpoint, what: str) -> None:
    study = make_study(2, patient_id="REFUSED-CERTIFICATE")
    uids = [str(ds.SOPInstanceUID) for ds in study]
    before = instance_count(site.stack)
    with pytest.raises(ConnectionError) as refused:
        store(endpoint, study)
    # Refused by Envoy's handshake: Orthanc never answered (no A-ASSOCIATE-RJ).
    assert not isinstance(refused.value, AssociationRejected), (what, refused.value)
    assert stored_instances(site.stack, uids) == [], f"{what}: Orthanc stored it"
    assert instance_count(site.stack) == before
    assert store(site.endpoint(site.files[CALLING_AE]), study) == [SUCCESS, SUCCESS], "control"
    assert sorted(stored_instances(site.stack, uids)) == sorted(uids)


def _other_certificate(site: CertificateSite, name: str, ca: ClientCa, uri: str) -> Path:
    certificate, key = issue_client_certificate(ca, name, uri)
    return site.write(name, certificate, key, ca.certificate_pem)


def test_a_caller_without_a_certificate_is_refused(site: CertificateSite) -> None:
    _refused_without_a_trace(site, site.endpoint(None), "no certificate")


def test_a_certificate_of_another_ca_is_refused(site: CertificateSite) -> None:
    """Same names as the modality's own certificate, issued by another CA (another stack's)."""
    foreign = _other_certificate(site, "foreign", make_client_ca(), certificate_uri(STACK, CALLING_AE))
    _refused_without_a_trace(site, site.endpoint(foreign), "a foreign CA")


def test_a_certificate_issued_again_refuses_the_old_one(site: CertificateSite) -> None:
    """The stack's CA, the modality's own URI, but not the fingerprint pinned: what a certificate
    replaced by `pulumi up` (renewed, or taken from a lost device) becomes."""
    replaced = _other_certificate(site, "replaced", site.ca, certificate_uri(STACK, CALLING_AE))
    _refused_without_a_trace(site, site.endpoint(replaced), "an unpinned certificate of the stack CA")


def test_a_certificate_of_the_stack_ca_for_no_modality_is_refused(site: CertificateSite) -> None:
    intruder = _other_certificate(site, "intruder", site.ca, certificate_uri(STACK, "INTRUDER"))
    _refused_without_a_trace(site, site.endpoint(intruder, calling_ae="INTRUDER"), "a certificate for no modality")


def test_a_valid_certificate_with_an_unknown_ae_title_is_still_refused_by_orthanc(site: CertificateSite) -> None:
    study = make_study(1, patient_id="CERTIFIED-STRANGER")
    with pytest.raises(AssociationRejected) as rejected:
        store(site.endpoint(site.files[CALLING_AE], calling_ae="STRANGER"), study)
    assert rejected.value.diagnostic == CALLING_AE_NOT_RECOGNIZED
    assert stored_instances(site.stack, [str(study[0].SOPInstanceUID)]) == []


def test_a_modality_with_its_certificate_stores_queries_and_moves(
    site: CertificateSite, runtime_report: dict[str, object]
) -> None:
    modality = site.endpoint(site.files[CALLING_AE])
    study = make_study(3, patient_id="CERTIFIED")
    assert store(modality, study) == [SUCCESS] * 3
    uids = {str(ds.SOPInstanceUID) for ds in study}
    assert find_instances(modality, study[0].StudyInstanceUID) == uids
    with StorageListener(site.receiver.port).running() as listener:
        statuses = move_study(modality, study[0].StudyInstanceUID, site.receiver.aet)
    assert statuses and statuses[-1] == SUCCESS and set(statuses[:-1]) <= set(PENDING), statuses
    assert set(listener.received) == uids
    runtime_report["client certificates: C-STORE / C-FIND / C-MOVE with the modality's certificate"] = (
        f"{len(uids)} stored, {len(uids)} found, {len(listener.received)} moved"
    )


def test_the_written_file_is_readable_by_its_owner_only(site: CertificateSite) -> None:
    path = site.files[CALLING_AE]
    assert path.stat().st_mode & 0o777 == 0o600
    ssl.create_default_context().load_cert_chain(path)  # certificate and key in one file load


def test_what_a_certificate_does_not_bind_an_enrolled_modality_may_use_another_ones_ae_title(
    site: CertificateSite,
) -> None:
    """Documented as not protected (README, Security model): Envoy cannot read the AE title inside
    the association, and Orthanc sees Envoy's address, not the modality's. Every modality has the
    same rights, so this changes who a study is attributed to, not what can be done."""
    study = make_study(1, patient_id="BORROWED-AE")
    borrowed = site.endpoint(site.files[OTHER_AE], calling_ae=CALLING_AE)
    assert store(borrowed, study) == [SUCCESS]
