"""Run the real Pulumi program in-process against Pulumi's mock engine and record what it builds.

No Pulumi CLI, provider plugin or AWS account is needed: the mock engine answers every resource
registration and data-source call with plausible fabricated values (see `OfflineMocks`), and a
recording monitor keeps each resource's type, name, parent, inputs (secrets still marked),
dependencies and the stack exports. Tests, `plan`, `check` and `bench` all use this.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from orthweb.config import ConfigError, StackConfig, load_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "orthweb"
MOCK_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret; `plan --json` shows it as "[secret]"."""

    value: Any

    def __repr__(self) -> str:
        return "Secret([hidden])"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    custom: bool
    id: str
    state: dict[str, Any] = field(repr=False)


@dataclass
class Evaluation:
    stack: str
    config: StackConfig
    resources: list[RecordedResource]
    outputs: dict[str, Any]

    def of_type(self, token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str) -> RecordedResource:
        found = self.of_type(token)
        if len(found) != 1:
            raise LookupError(f"expected one {token}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> RecordedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(urn)

    def named(self, name: str) -> RecordedResource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise LookupError(name)

    def ancestors(self, urn: str) -> set[str]:
        """Every resource `urn` waits for, directly or through its dependencies' dependencies."""
        seen: set[str] = set()
        todo = [urn]
        index = {r.urn: r for r in self.resources}
        while todo:
            current = index.get(todo.pop())
            if current is None:
                continue
            for dependency in current.dependencies:
                if dependency not in seen:
                    seen.add(dependency)
                    todo.append(dependency)
        return seen

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [
                {
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "inputs": redact(r.inputs),
                }
                for r in self.resources
            ],
            "outputs": redact(self.outputs),
        }


def plain(value: Any) -> Any:
    """The value with every Secret unwrapped (for assertions on what AWS would receive)."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def redact(value: Any) -> Any:
    if isinstance(value, Secret):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def secrets_in(value: Any) -> list[Any]:
    """Every secret value nested inside `value`."""
    if isinstance(value, Secret):
        return [value.value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in secrets_in(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in secrets_in(v)]
    return []


def _wrap_secrets(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return Secret(_wrap_secrets(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _wrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_secrets(v) for v in value]
    return value


# --- the mock engine -------------------------------------------------------------------------


def _fake_id(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class OfflineMocks(pulumi_mocks.Mocks):
    """Fabricated but well-formed values for what AWS would compute."""

    def __init__(self, region: str, site_holder: str | None = None) -> None:
        self.region = region
        # Resource name of the host that holds the Elastic IP already (as after a failover),
        # or None for a first deployment.
        self.site_holder = site_holder

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        # No check failures: the engine wants an empty list, not None.
        return self._answer(args.token, args.args), []

    def _answer(self, token: str, arguments: dict) -> dict:
        region = self.region
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": MOCK_ACCOUNT,
                "arn": f"arn:aws:sts::{MOCK_ACCOUNT}:assumed-role/Deployer/session",
                "userId": "AROAEXAMPLE:session",
                "id": MOCK_ACCOUNT,
            }
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{suffix}" for suffix in "abc"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in (1, 2, 4)], "id": region}
        if token == "aws:ssm/getParameter:getParameter":
            name = arguments.get("name", "")
            return {"name": name, "value": "ami-" + _fake_id(name), "type": "String", "id": name}
        if token == "aws:ec2/getEips:getEips":
            if self.site_holder is None:
                return {"allocationIds": [], "publicIps": [], "id": region}
            return {"allocationIds": ["eipalloc-existing"], "publicIps": ["203.0.113.10"], "id": region}
        if token == "aws:ec2/getElasticIp:getElasticIp":
            holder = "i-" + _fake_id(self.site_holder) if self.site_holder else ""
            return {"id": arguments.get("id", ""), "instanceId": holder, "publicIp": "203.0.113.10"}
        raise NotImplementedError(f"the offline engine has no answer for data source {token}")

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = dict(args.inputs)
        token, name, region = args.typ, args.name, self.region
        resource_id = name + "-" + _fake_id(token, name, length=8)
        state: dict[str, Any] = {**inputs}
        service = token.split(":")[1].split("/")[0] if ":" in token else "misc"
        state.setdefault("arn", f"arn:aws:{service}:{region}:{MOCK_ACCOUNT}:{name}")
        # Auto-named resources (parameter groups, subnet groups, ...) get their physical name.
        state.setdefault("name", resource_id)
        if token == "aws:s3/bucket:Bucket":
            bucket = (inputs.get("bucketPrefix") or name) + _fake_id(name, length=8)
            resource_id = bucket
            state.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
            )
        elif token == "aws:ec2/instance:Instance":
            resource_id = "i-" + _fake_id(name)
            state.update(privateIp="172.27.0.10", publicIp="198.51.100.20", instanceState="running")
        elif token == "aws:ec2/eip:Eip":
            resource_id = "eipalloc-" + _fake_id(name)
            state.update(
                allocationId=resource_id,
                publicIp="203.0.113.10",
                publicDns="ec2-203-0-113-10.compute-1.amazonaws.com"
                if region == "us-east-1"
                else f"ec2-203-0-113-10.{region}.compute.amazonaws.com",
            )
        elif token == "aws:rds/instance:Instance":
            identifier = inputs.get("identifier", name)
            address = f"{identifier}.cexample123.{region}.rds.amazonaws.com"
            state.update(
                address=address,
                endpoint=f"{address}:5432",
                port=5432,
                arn=f"arn:aws:rds:{region}:{MOCK_ACCOUNT}:db:{identifier}",
                masterUserSecrets=[
                    {
                        "secretArn": f"arn:aws:secretsmanager:{region}:{MOCK_ACCOUNT}:secret:"
                        f"rds!db-{_fake_id(identifier)}",
                        "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                        "secretStatus": "active",
                    }
                ],
            )
        elif token == "aws:secretsmanager/secret:Secret":
            secret_name = (inputs.get("namePrefix") or name) + _fake_id(name, length=6)
            resource_id = f"arn:aws:secretsmanager:{region}:{MOCK_ACCOUNT}:secret:{secret_name}"
            state.update(arn=resource_id, name=secret_name)
        elif token == "aws:iam/role:Role":
            state.update(arn=f"arn:aws:iam::{MOCK_ACCOUNT}:role/{resource_id}", name=resource_id)
        elif token == "aws:iam/instanceProfile:InstanceProfile":
            state.update(arn=f"arn:aws:iam::{MOCK_ACCOUNT}:instance-profile/{resource_id}", name=resource_id)
        elif token == "aws:kms/key:Key":
            key_id = _fake_id(name, length=8) + "-0000-4000-8000-" + _fake_id(name, "k", length=12)
            resource_id = key_id
            state.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{MOCK_ACCOUNT}:key/{key_id}")
        elif token == "aws:ec2/keyPair:KeyPair":
            state.update(keyName=resource_id)
        elif token == "random:index/randomPassword:RandomPassword":
            state["result"] = "Mock" + _fake_id(name, length=int(inputs.get("length", 16)) - 4) + "Pw9"
        elif token == "random:index/randomString:RandomString":
            state["result"] = _fake_id(name, length=int(inputs.get("length", 6)))
        elif token == "tls:index/privateKey:PrivateKey":
            state.update(
                privateKeyPem="-----BEGIN RSA PRIVATE KEY-----\nMOCK"
                + _fake_id(name)
                + "\n-----END RSA PRIVATE KEY-----\n",
                publicKeyPem="-----BEGIN PUBLIC KEY-----\nMOCK\n-----END PUBLIC KEY-----\n",
            )
        elif token == "tls:index/selfSignedCert:SelfSignedCert":
            state["certPem"] = "-----BEGIN CERTIFICATE-----\nMOCK" + _fake_id(name) + "\n-----END CERTIFICATE-----\n"
        return resource_id, state


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping parent, dependencies and secret-marked inputs."""

    def __init__(self, mocks: OfflineMocks) -> None:
        super().__init__(mocks)
        self.records: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw_inputs = rpc.deserialize_properties(request.object)
        registration = self.resources.get(response.urn)
        self.records.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                inputs=_wrap_secrets(raw_inputs),
                dependencies=tuple(request.dependencies),
                property_dependencies={key: tuple(value.urns) for key, value in request.propertyDependencies.items()},
                custom=bool(request.custom),
                id=response.id,
                state=registration.state if registration else {},
            )
        )
        return response


# --- stack config files ----------------------------------------------------------------------


def read_stack_file(path: Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The `config:` of a Pulumi.<stack>.yaml. Encrypted values cannot be read offline: they
    become placeholders of the right shape, still marked secret."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            "--stack",
            path.name.removeprefix("Pulumi.").removesuffix(".yaml"),
            f"an existing stack file ({path} not found)",
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(
            "--stack",
            path.name.removeprefix("Pulumi.").removesuffix(".yaml"),
            f"valid YAML ({str(error).splitlines()[0]})",
        ) from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError("--stack", path.name.removeprefix("Pulumi.").removesuffix(".yaml"), "a `config:` mapping")
    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, value in config.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(full_key)
            value = _offline_secret_placeholder(full_key)
        values[full_key] = value
    return values, frozenset(secret_keys)


def _offline_secret_placeholder(key: str) -> str:
    if key.endswith("siteCertificateKey"):
        return "-----BEGIN PRIVATE KEY-----\nOFFLINE-PLACEHOLDER\n-----END PRIVATE KEY-----\n"
    if key.endswith("siteCertificate"):
        return "-----BEGIN CERTIFICATE-----\nOFFLINE-PLACEHOLDER\n-----END CERTIFICATE-----\n"
    return "offline-placeholder"


def _engine_value(value: Any) -> str:
    # The engine hands every config value to the program as a string; objects as JSON.
    if isinstance(value, str):
        return value
    return json.dumps(value)


# --- running the program ---------------------------------------------------------------------


def evaluate(
    stack: str = "dev",
    overrides: Mapping[str, Any] | None = None,
    *,
    project_dir: Path | None = None,
    home: Path | None = None,
    secret_overrides: Iterable[str] = (),
    site_holder: str | None = None,
) -> Evaluation:
    """Evaluate `__main__.py` for `stack`; ConfigError for invalid config (nothing is run)."""
    root = project_dir or PROJECT_ROOT
    values, secret_keys = read_stack_file(root / f"Pulumi.{stack}.yaml")
    for key, value in (overrides or {}).items():
        values[key if ":" in key else f"{PROJECT}:{key}"] = value
    secret_keys = secret_keys | {k if ":" in k else f"{PROJECT}:{k}" for k in secret_overrides}
    # Validate first, exactly as the program will: bad input never reaches the engine.
    config = load_config(values, stack=stack, secret_keys=secret_keys, home=home)

    region = str(values.get("aws:region") or DEFAULT_REGION)
    engine_config = {k: _engine_value(v) for k, v in values.items()}
    engine_config.setdefault("aws:region", region)
    monitor = RecordingMonitor(OfflineMocks(region, site_holder))
    return _run(root, stack, config, engine_config, sorted(secret_keys), monitor, home)


def _run(
    root: Path,
    stack: str,
    config: StackConfig,
    engine_config: dict[str, str],
    secret_keys: list[str],
    monitor: RecordingMonitor,
    home: Path | None,
) -> Evaluation:
    settings.set_root_resource(None)  # type: ignore[arg-type]  # a fresh stack per evaluation
    runtime_config.set_all_config(engine_config, secret_keys)
    pulumi_mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)

    program = root / "__main__.py"
    previous_home = _set_home(home)
    try:

        def run_program() -> None:
            runpy.run_path(str(program), run_name="__main__")

        _sync_await(run_pulumi_func(run_program))
        outputs = _sync_await(_resolve_outputs())
    finally:
        _set_home(previous_home)
    return Evaluation(stack=stack, config=config, resources=list(monitor.records), outputs=outputs)


def _set_home(home: Path | None) -> Path | None:
    """The program resolves `~/.ssh/id_rsa.pub`; tests point HOME elsewhere for isolation."""
    import os

    previous = os.environ.get("HOME")
    if home is not None:
        os.environ["HOME"] = str(home)
    return Path(previous) if previous else None


async def _resolve_outputs() -> dict[str, Any]:
    root = settings.get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {}) or {}
    resolved: dict[str, Any] = {}
    for name, value in exported.items():
        output = pulumi.Output.from_input(value)
        plain_value = await output.future()
        is_secret = await output.is_secret()
        resolved[name] = Secret(plain_value) if is_secret else plain_value
    return resolved
