"""Reading a Pulumi.<stack>.yaml the way the CLI reads it, without a Pulumi CLI or passphrase.

The CLI decodes the file with gopkg.in/yaml.v3, which refuses a mapping that holds a key twice
("mapping key ... already defined at line N": go-yaml v3 decode.go, its `uniqueKeys` default, used by
pulumi/pulumi sdk/go/common/encoding/marshal.go); a `config:` value that is a map of `secure` alone is
encrypted (sdk/go/common/resource/config/value.go); a key without a value is read as "" with a warning
(workspace/loaders.go, checkForEmptyConfig); a top-level `environment:` names Pulumi ESC environments
to import (workspace/project.go, ProjectStack.Environment), never a config value. Every value's place
in the file is kept, so an answer about it can say where it is.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orthweb.config.keys import BY_NAME
from orthweb.config.problems import ConfigError, Problem, qualified_key
from orthweb.shared import redaction
from orthweb.shared.constants import ENVIRONMENTS, PROJECT

# What a Pulumi.<stack>.yaml may hold at its top level (the CLI's stack settings file).
STACK_FILE_KEYS = frozenset({"config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment"})


@dataclass
class StackFile:
    """A stack file's `config:` as the engine gets it, where each value is, and what is wrong with it."""

    values: dict[str, Any] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()
    # "Pulumi.dev.yaml:9:3" for each key as problems name it (`vpcCidr`, `deploymentOptions.x`, `aws:region`,
    # `dicomModalities[1]`).
    sources: dict[str, str] = field(default_factory=dict)
    # Encrypted values plan cannot read offline and evaluates without (full key -> where).
    encrypted: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_stack_file(path: Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The `config:` of a Pulumi.<stack>.yaml, or ConfigError naming every problem in it."""
    stack_file = load_stack_file(path)
    if stack_file.problems:
        raise ConfigError(*stack_file.problems)
    return stack_file.values, stack_file.secret_keys


def load_stack_file(path: Path) -> StackFile:
    """The file read as the CLI reads it. Encrypted values cannot be read offline: a certificate
    pair becomes a stand-in pair for the same name, a secret key a placeholder still marked secret,
    and any other encrypted value is left out (so its default is evaluated) and listed in `encrypted`."""
    document, place = _document(path)
    stack_file = StackFile()
    config = _config_node(path, document, place, stack_file)
    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    empty: list[str] = []
    for key, value in config.items():
        full_key = qualified_key(key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(full_key)
            if _unreadable_offline(full_key):
                stack_file.encrypted[full_key] = stack_file.sources.get(_problem_key(full_key), path.name)
                continue
            value = _offline_secret_placeholder(full_key)
        elif value is None:
            empty.append(key)
            value = ""
        values[full_key] = value
    _replace_certificate_placeholders(values, secret_keys)
    if empty:
        # The CLI's own warning (workspace/loaders.go, checkForEmptyConfig).
        named = " and ".join(f'"{key}"' for key in empty)
        stack_file.warnings.append(
            f"{path.name}: no value for configuration key{'s' if len(empty) > 1 else ''} {named}: "
            'the Pulumi CLI reads it as an empty string ""'
        )
    stack_file.values, stack_file.secret_keys = values, frozenset(secret_keys)
    return stack_file


def _unreadable_offline(full_key: str) -> bool:
    """Encrypted where orthweb does not expect a secret: plan cannot stand in for its value."""
    namespace, _, name = full_key.partition(":")
    if namespace != PROJECT:
        return name == "region"
    return name in BY_NAME and not BY_NAME[name].secret and name not in ("siteCertificate",)


def _problem_key(full_key: str) -> str:
    return full_key.removeprefix(f"{PROJECT}:")


def _replace_certificate_placeholders(values: dict[str, Any], secret_keys: set[str]) -> None:
    """An encrypted certificate pair is evaluated with a real stand-in pair for the same names."""
    cert_key, key_key = qualified_key("siteCertificate"), qualified_key("siteCertificateKey")
    if cert_key in secret_keys and key_key in secret_keys:
        domain = values.get(qualified_key("siteDomain")) or "offline.invalid"
        values[cert_key], values[key_key] = stand_in_certificate(str(domain))


def _document(path: Path) -> tuple[Any, yaml.Node | None]:
    """The file's content and its YAML node tree (for positions), or ConfigError."""
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        text = path.read_text(encoding="utf-8")
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            document = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except FileNotFoundError:
        raise ConfigError.of("--stack", stack, f"an existing stack file ({path} not found)") from None
    except (OSError, UnicodeDecodeError) as error:
        # A name too long for a file, a folder of that name, a file that is not text: one line.
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError.of("--stack", stack, f"a readable stack file Pulumi.<stack>.yaml ({reason})") from None
    except yaml.YAMLError as error:
        raise ConfigError(
            Problem("--stack", stack, f"valid YAML ({_yaml_problem(error)})", source=_at(path, error))
        ) from None
    return document or {}, node


def _at(path: Path, error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path.name


def _config_node(path: Path, document: Any, node: yaml.Node | None, stack_file: StackFile) -> dict[str, Any]:
    """The `config:` mapping, after the file's shape, its duplicate keys and its places are read."""
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    if not isinstance(document, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError.of(
            "--stack", stack, f"a stack file whose top level is a mapping with `config:` ({path.name})"
        )
    stack_file.problems.extend(_duplicate_keys(path.name, node))
    top = {str(key.value): (key, value) for key, value in node.value}
    unknown = sorted(set(document) - STACK_FILE_KEYS)
    for name in unknown:
        stack_file.problems.append(
            Problem(
                "--stack",
                stack,
                f"{path.name} has top-level {name!r}: settings go under `config:` "
                f"(a stack file's top level holds only {', '.join(sorted(STACK_FILE_KEYS))})",
                source=_place(path.name, top[name][0]) if name in top else path.name,
            )
        )
    if "environment" in document:
        _esc_environment(path.name, document["environment"], top["environment"][0], stack_file)
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError.of("--stack", stack, f"a `config:` mapping of key: value in {path.name}")
    if "config" in top and isinstance(top["config"][1], yaml.MappingNode):
        _record_places(path.name, top["config"][1], stack_file.sources)
    return config


def _esc_environment(name: str, value: Any, key_node: yaml.Node, stack_file: StackFile) -> None:
    """A top-level `environment:` imports Pulumi ESC environments; orthweb's is `orthweb:environment`."""
    place = _place(name, key_node)
    if isinstance(value, list) and all(isinstance(item, str) for item in value) and value:
        stack_file.warnings.append(
            f"{place}: environment imports Pulumi ESC environments ({', '.join(value)}), which plan cannot open "
            "offline: config they provide is not in this evaluation"
        )
        return
    example = value if value in ENVIRONMENTS else ENVIRONMENTS[-1]
    stack_file.problems.append(
        Problem(
            "environment",
            value,
            "under `config:`: a top-level `environment` names Pulumi ESC environments to import, so the stack's "
            f"environment goes in its config ({' or '.join(ENVIRONMENTS)})",
            example=example,
            source=place,
        )
    )


def _place(name: str, node: yaml.Node) -> str:
    return f"{name}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _duplicate_keys(name: str, node: yaml.Node, path: str = "") -> list[Problem]:
    """Every key a mapping holds twice, anywhere in the file: the CLI refuses the file for each."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Node] = {}
        for key, value in node.value:
            text = str(key.value)
            child = _child_path(path, text)
            if text in first:
                shown = value.value if isinstance(value, yaml.ScalarNode) else redaction.NOT_SHOWN
                problems.append(
                    Problem(
                        child,
                        shown,
                        f"written once (it is also at line {first[text].start_mark.line + 1}): the Pulumi CLI refuses "
                        "a file that holds a key twice",
                        source=_place(name, key),
                    )
                )
            else:
                first[text] = key
            problems.extend(_duplicate_keys(name, value, child))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems.extend(_duplicate_keys(name, item, f"{path}[{index}]"))
    return problems


def _child_path(path: str, key: str) -> str:
    """The path of `key` under `path`, as problems name it (`config:` and `orthweb:` left out)."""
    if not path:
        return key
    return _problem_key(qualified_key(key)) if path == "config" else f"{path}.{key}"


def _record_places(name: str, config: yaml.MappingNode, sources: dict[str, str]) -> None:
    for key, value in config.value:
        path = _problem_key(qualified_key(str(key.value)))
        sources[path] = _place(name, key)
        _record_children(name, path, value, sources)


def _record_children(name: str, path: str, node: yaml.Node, sources: dict[str, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}"
            sources[child] = _place(name, key)
            _record_children(name, child, value, sources)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            sources[child] = _place(name, item)
            _record_children(name, child, item, sources)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """How the YAML breaks, never quoting the file: it may hold a secret (where: the problem's source)."""
    problem = str(getattr(error, "problem", None) or "it cannot be parsed")
    if redaction.kind_of_secret(problem) is not None or not redaction.plainly_benign(problem):
        problem = "a syntax error"
    context = getattr(error, "context", None)
    if isinstance(context, str) and redaction.plainly_benign(context) and redaction.kind_of_secret(context) is None:
        problem = f"{problem}, {context}"
    return problem


def _offline_secret_placeholder(key: str) -> str:
    if key.endswith("siteCertificateKey"):
        return "-----BEGIN PRIVATE KEY-----\nOFFLINE-PLACEHOLDER\n-----END PRIVATE KEY-----\n"
    if key.endswith("siteCertificate"):
        return "-----BEGIN CERTIFICATE-----\nOFFLINE-PLACEHOLDER\n-----END CERTIFICATE-----\n"
    return "offline-placeholder"


def stand_in_certificate(domain: str) -> tuple[str, str]:
    """A self-signed pair for `domain`, valid for a year: what an encrypted pair looks like offline."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem
