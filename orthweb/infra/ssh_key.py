"""Which SSH public key the hosts get: four rules (those of the Terraform orthweb), as a pure function.

1. `pubkeyData` when set; 2. else the file at `pubkeyPath`; 3. else `~/.ssh/id_rsa.pub` when it
exists; 4. else no key at all (SSM Session Manager is then the only way in, which is fine).
A key that cannot be used is a ConfigError naming the config key it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from orthweb.config.problems import ConfigError
from orthweb.shared.redaction import NOT_SHOWN

# EC2 imports RSA and ED25519 keys only; RSA below 2048 bits is refused by AWS as well.
ALLOWED = "an OpenSSH public key line: ssh-ed25519 or ssh-rsa (>= 2048 bits)"
MAX_KEY_FILE_BYTES = 16_384


@dataclass(frozen=True)
class PublicKey:
    material: str
    source: str  # "pubkeyData", "pubkeyPath:<path>" or "default:<path>"


def _validated(text: str, key: str, shown: object) -> str:
    line = text.strip()
    if "\n" in line or not line:
        raise ConfigError.of(key, shown, ALLOWED + ", exactly one line")
    if "PRIVATE KEY" in line:
        raise ConfigError.of(key, NOT_SHOWN, ALLOWED + " — this is a private key")
    try:
        parsed = load_ssh_public_key(line.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError.of(key, shown, ALLOWED) from None
    if isinstance(parsed, rsa.RSAPublicKey):
        if parsed.key_size < 2048:
            raise ConfigError.of(key, shown, ALLOWED + f" (this RSA key has {parsed.key_size} bits)")
    elif not isinstance(parsed, ed25519.Ed25519PublicKey):
        raise ConfigError.of(key, shown, ALLOWED + " (EC2 does not import this key type)")
    return line


def _read(path: Path, key: str) -> str:
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise ConfigError.of(key, str(path), "a public key file (this file is too large)")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a text file"
        raise ConfigError.of(key, str(path), f"a readable public key file ({reason})") from None


def resolve_public_key(*, data: str | None, path: str | None, home: Path) -> PublicKey | None:
    if data:
        shown = data if len(data) <= 40 else data[:37] + "..."
        return PublicKey(_validated(data, "pubkeyData", shown), "pubkeyData")
    if path:
        file = Path(path).expanduser()
        return PublicKey(_validated(_read(file, "pubkeyPath"), "pubkeyPath", str(file)), f"pubkeyPath:{file}")
    default = home / ".ssh" / "id_rsa.pub"
    if default.is_file():
        # The default is a convenience: a broken file there is still reported, naming the path.
        return PublicKey(_validated(_read(default, "pubkeyPath"), "pubkeyPath", str(default)), f"default:{default}")
    return None
