"""What a user may be shown: every message and value orthweb prints passes through `scrub`.

Three layers, each enough on its own for what it covers:
- known secrets: every value that entered as a secret (a `--set-file`, a secret config key, a
  Secrets Manager read, a token, a credential in the environment) is registered, and any run of
  WINDOW characters of one is replaced, whatever it looks like. So is every value the user passed
  where no secret is expected (flags, config values) unless it is plainly benign
  (`plainly_benign`: names, numbers, ids, addresses), in case it was a secret put in the wrong place;
- key material and tokens, recognised by their form: PEM blocks of private keys, JSON Web Tokens;
- secret-shaped words (`_irregular`): a word, between spaces and quotes, whose letters, digits and
  symbols mix the way generated passwords, client secrets and base64 keys do. Words made of
  ordinary words, numbers and hexadecimal (names, ARNs, ids, digests) stay, and so do encodings of
  public data, recognised by decoding them: SSH public keys, and gzip+base64 blobs (the hosts' user
  data) whose decoded content scrubs clean.

A human passphrase made of dictionary words, or a pure hexadecimal secret, passed where no secret
is expected, cannot be told from a name or a digest: only the first layer covers those.

Imports nothing of orthweb, so every layer (config, the Pulumi program, the operator commands) can
use it; `RedactingStream` is what the CLI puts over stdout and stderr for the length of a command.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import io
import itertools
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

REDACTED = "[redacted]"
NOT_SHOWN = "[not shown]"
# The longest run of a secret that may ever be shown is WINDOW - 1 characters.
WINDOW = 16
# Shorter registered secrets are matched whole (a password of 8 to 15 characters).
SHORTEST_SECRET = 8

_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{1,40})-----"
    # To its END line; or, cut short, over its headers and base64 body (real or escaped newlines).
    r"(?:.*?-----END (?P=label)-----|(?:[A-Za-z-]+: [^\n\\]*|[A-Za-z0-9+/=]|[\r\n]|\\[nr])*)",
    re.DOTALL,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*")
# A word: no whitespace, no quotes, and no JSON escape (a PEM in JSON is one line with "\n" in it).
_WORD = re.compile(r"(?:(?!\\[nrtbf\"\\/]|\\u[0-9a-fA-F]{4})[^\s\"'`])+")
_SEGMENT = re.compile(r"[A-Za-z0-9]+")
# The pieces a name is written in: words (CamelCase or not), acronyms and numbers.
_PIECE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
_UPPER_AND_DIGITS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX = frozenset("0123456789abcdef")
_HEX_UPPER = frozenset("0123456789ABCDEF")
# Symbols that passwords use and names, paths and ARNs rarely do.
_PASSWORD_SYMBOLS = frozenset("!#$%^&*~?|+")
# What names, paths, ARNs, addresses and versions are written with besides letters and digits.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9._:/@=,+~\\-]+")
# The 250 most frequent letter pairs inside the words of Python 3.11's standard library, of
# botocore's API and shape names and of orthweb's code and docs (97% of their pairs); a pair of
# random letters is among them 37% of the time.
_COMMON_PAIRS = frozenset(
    re.findall(
        "..",
        "abacadagaiakalamanaparasatauavawaxaybabebibjblbobsbucacccechcickclcocrcsctcucydadddedidodpdrdsdueaebecedeeefegelemenepeqeresetevewexeyfafefffiflfofrfugagegigngrgsguhahehihohtiaibicidieifigiliminioipirisitivixizjejokekslaldlelflilllolsltlulymambmemimmmompmsmunancndnenfngninknnnonpnsntnunvoaobocodofogoiokolomonoooporosotouovowpapdpepiplpoppprpsptpupyqurarcrdrergrirkrmrnrorrrsrtrurvrysascseshsisksospssstsusytatctethtitltotptrtstttutwtyuaubucudueuiulumunupurusutvavevivowawewhwiwowrwsxcxexpxtypysytze",
    )
)
_SSH_KEY_TYPES = (b"ssh-", b"ecdsa-", b"sk-")


class _Registry:
    """The secrets of this process, and every WINDOW-long run of them (in the forms they print in)."""

    def __init__(self) -> None:
        self.windows: set[str] = set()
        self.short: set[str] = set()
        # Values known to be public (ids AWS assigns), shown even when they look random.
        self.public: set[str] = set()

    def add(self, secret: str) -> None:
        for form in _printed_forms(secret):
            if len(form) < WINDOW:
                if len(form) >= SHORTEST_SECRET:
                    self.short.add(form)
                continue
            self.windows.update(form[i : i + WINDOW] for i in range(len(form) - WINDOW + 1))

    def __bool__(self) -> bool:
        return bool(self.windows or self.short)


_registry = _Registry()


def _printed_forms(secret: str) -> set[str]:
    """The secret as a message, JSON or a repr shows it, and each of its lines on its own."""
    forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    forms.update(line.strip() for line in secret.splitlines())
    return {form for form in forms if form}


def register(value: Any) -> None:
    """Remember `value` (a string, or every string inside a mapping or list) as a secret."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if value:
            _registry.add(value)
        return
    if isinstance(value, dict):
        for item in value.values():
            register(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            register(item)


def register_input(value: Any) -> None:
    """A value the user passed where no secret is expected (a flag, a config value): remembered
    as a secret unless plainly benign, so that, if it was one, no part of it is ever shown."""
    if isinstance(value, str):
        structured = _json_structure(value)
        if structured is not None:
            register_input(structured)
        elif not plainly_benign(value):
            register(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            register_input(key)
            register_input(item)
    elif isinstance(value, list | tuple):
        for item in value:
            register_input(item)


def _json_structure(text: str) -> dict[str, Any] | list[Any] | None:
    """An object or list given as JSON text (how the engine hands config objects over), else None."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


# Names of fields that hold a secret, whatever their value looks like.
SECRET_FIELD = re.compile(r"secret|password|passphrase|private|token|credential|key", re.IGNORECASE)


def register_stored(value: Any) -> None:
    """A stored secret's value (Secrets Manager's): JSON fields named like secrets are remembered
    whole; its other fields (user names, addresses, ids) only when they do not read as such, so
    that a command may still print them."""
    structured = _json_structure(value) if isinstance(value, str) else value
    if not isinstance(structured, dict):
        register(value)
        return
    for field, item in structured.items():
        if SECRET_FIELD.search(str(field)):
            register(item)
        elif isinstance(item, dict):
            register_stored(item)
        else:
            register_input(item)


def vouch(value: str) -> None:
    """Remember `value` as public: an id AWS (or the offline engine) assigned, never user input."""
    if value:
        _registry.public.add(value)


def forget_all() -> None:
    """A fresh start (each CLI command begins with one)."""
    global _registry
    _registry = _Registry()


# --- recognising -----------------------------------------------------------------------------


def kind_of_secret(text: str, *, registered: bool = True) -> str | None:
    """What `text` looks like, if it looks like a secret: 'a private key', 'a token', ...
    (`registered`: also when it holds part of a registered secret)."""
    if registered and _registered_spans(text):
        return "a value given as a secret"
    for match in _PEM.finditer(text):
        if "PRIVATE" in match["label"]:
            return "a private key"
    if _JWT.search(text):
        return "a token (JWT)"
    if any(_irregular(word) for word in text.split()):
        return "a generated secret (a password, client secret, key or token)"
    return None


def _registered_spans(text: str) -> list[tuple[int, int]]:
    if not _registry:
        return []
    spans = [(i, i + WINDOW) for i in range(len(text) - WINDOW + 1) if text[i : i + WINDOW] in _registry.windows]
    for secret in _registry.short:
        spans.extend((m.start(), m.end()) for m in re.finditer(re.escape(secret), text))
    return spans


def _irregular(word: str) -> bool:
    """Whether a word mixes letters, digits and symbols the way generated secrets do: many short
    pieces of one kind (upper, lower, digits) in a row, numbers scattered through letters, or
    symbols names never use; where names run in words, numbers and hexadecimal ids."""
    if len(word) < WINDOW or word in _registry.public or _is_public_encoding(word):
        return False
    segments = _SEGMENT.findall(word)
    if any(len(segment) >= 12 and _choppy([segment], 0.3) for segment in segments):
        return True
    if _choppy(segments, 0.5) or any(_scattered_digits(segment) for segment in segments):
        return True
    return not word.startswith(("http://", "https://")) and _rare_symbols(word)


def _choppy(segments: list[str], share: float) -> bool:
    """At least `share` pieces (case runs and numbers) per character, counting segments that are
    hexadecimal, digits, or long upper-case-and-digit (ids, digests, numbers) as none."""
    length = sum(map(len, segments))
    if length < 12:
        return False
    pieces = sum(len(_PIECE.findall(segment)) for segment in segments if not _id_like(segment))
    return pieces >= share * length


def _id_like(segment: str) -> bool:
    characters = set(segment)
    if characters <= _HEX or characters <= _HEX_UPPER or segment.isdigit():
        return True
    return len(segment) >= 10 and characters <= _UPPER_AND_DIGITS


def _scattered_digits(segment: str) -> bool:
    """Three or more numbers inside one long run of letters and digits: random lower-case-and-digit
    strings have them all along; names keep their numbers together (rsa2048, ec2, x509)."""
    return len(segment) >= WINDOW and not _id_like(segment) and len(_DIGITS.findall(segment.strip("0123456789"))) >= 3


def _rare_symbols(word: str) -> bool:
    """Two different symbols that names, paths and ARNs do not use, with letters of both cases or digits."""
    symbols = len({ch for ch in word if ch in _PASSWORD_SYMBOLS})
    letters = [ch for ch in word if ch.isalpha()]
    mixed = any(ch.isdigit() for ch in word) or (
        any(ch.isupper() for ch in letters) and any(ch.islower() for ch in letters)
    )
    return symbols >= 2 and bool(letters) and mixed


def _is_public_encoding(word: str) -> bool:
    """An SSH public key's body, or a gzip or tar archive in base64 whose content holds no known
    secret, key or token (its scripts' shell and regular expressions would read as secret-shaped
    words)."""
    if word.startswith("AAAA"):
        blob = _b64(word, limit=16 * 1024)
        return blob is not None and len(blob) > 4 and blob[4:].startswith(_SSH_KEY_TYPES)
    if word.startswith("H4sI"):
        blob = _b64(word, limit=1024 * 1024)
        if blob is None:
            return False
        try:
            content = gzip.decompress(blob)[: 8 * 1024 * 1024].decode("utf-8")
        except (OSError, EOFError, zlib.error, UnicodeDecodeError):
            return False
        return not _known_or_key_material(content)
    if len(word) >= 1024:
        # A tar archive (the hosts' file bundle): "ustar" at offset 257 of its first header.
        blob = _b64(word, limit=4 * 1024 * 1024)
        if blob is None or blob[257:262] != b"ustar":
            return False
        return not _known_or_key_material(blob.decode("utf-8", "replace"))
    return False


def _b64(word: str, *, limit: int) -> bytes | None:
    if len(word) > limit * 4 // 3 + 4:
        return None
    try:
        return base64.b64decode(word.rstrip("\\"), validate=True)
    except (binascii.Error, ValueError):
        return None


def plainly_benign(text: str) -> bool:
    """Whether every long word of `text` reads as names, numbers, ids or addresses: words of
    common letter pairs, acronyms, numbers kept together, hexadecimal; structural symbols only.
    Stricter than `_irregular`: a value that is not plainly benign is treated as possibly secret."""
    for word in text.split():
        if len(word) < WINDOW or _is_public_encoding(word):
            continue
        if not _PLAIN_WORD.fullmatch(word):
            return False
        segments = _SEGMENT.findall(word)
        tiny = sum(1 for segment in segments if len(segment) <= 2 and segment.isalpha())
        if tiny >= 4 and 2 * tiny >= len(segments):
            return False
        if not all(_wordlike(segment) for segment in segments):
            return False
    return True


def _wordlike(segment: str) -> bool:
    """Ids and numbers, or words: at most two numbers, at most one letter piece of one or two
    letters, and letter pairs mostly common ones (random letters make a third or more rare)."""
    if _id_like(segment):
        return True
    pieces = _PIECE.findall(segment)
    letters = [piece for piece in pieces if piece.isalpha()]
    if sum(piece.isdigit() for piece in pieces) > 2 or sum(len(piece) <= 2 for piece in letters) > 1:
        return False
    pairs = [a + b for piece in letters if len(piece) >= 3 for a, b in itertools.pairwise(piece.lower())]
    return len(pairs) < 4 or sum(pair not in _COMMON_PAIRS for pair in pairs) <= 0.34 * len(pairs)


# --- redacting -------------------------------------------------------------------------------


def _known_or_key_material(text: str) -> list[tuple[int, int]]:
    """Where `text` holds a registered secret, a private key or a token."""
    spans = _registered_spans(text)
    spans += [(m.start(), m.end()) for m in _PEM.finditer(text) if "PRIVATE" in m["label"]]
    spans += [(m.start(), m.end()) for m in _JWT.finditer(text)]
    return spans


def scrub(text: str) -> str:
    """`text` with every known secret, key, token and secret-shaped word replaced by REDACTED."""
    spans = _known_or_key_material(text)
    spans += [(m.start(), m.end()) for m in _WORD.finditer(text) if _irregular(m.group())]
    return _replace(text, spans) if spans else text


def scrub_document(value: Any) -> Any:
    """A JSON-able document with every string scrubbed, so that what `--json` prints stays valid
    JSON (the stream's own scrubbing then finds nothing left to replace)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(key)): scrub_document(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_document(item) for item in value]
    return value


def _replace(text: str, spans: Iterable[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def shown(value: Any, *, limit: int = 80) -> str:
    """A value as a problem may quote it: NOT_SHOWN when any of it looks secret, else its
    repr (strings) or JSON, cut to `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if kind_of_secret(text) is not None or scrub(text) != text:
        return NOT_SHOWN
    quoted = repr(value) if isinstance(value, str) else text
    return quoted if len(quoted) <= limit else quoted[: limit - 3] + "..."


# --- the streams ------------------------------------------------------------------------------


class RedactingStream(io.TextIOBase):
    """A text stream that scrubs what it passes on, a line at a time.

    Text waits for its line's end (or, on a terminal, for a flush), so a secret written in
    pieces is seen whole; a PEM block waits for its END line.
    """

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self._pending = ""
        self._interactive = _isatty(target)

    def write(self, text: str) -> int:
        self._pending += text
        self._emit(final=False)
        return len(text)

    def flush(self) -> None:
        self._emit(final=self._interactive)
        self.target.flush()

    def close_out(self) -> None:
        """Write whatever is left (the command ended)."""
        self._emit(final=True)
        self.target.flush()

    def reveal(self, text: str) -> None:
        """Write `text` unscrubbed: only for a value the user asked to be printed (`orthweb token`)."""
        self.close_out()
        self.target.write(text)
        self.target.flush()

    def _emit(self, *, final: bool) -> None:
        if final:
            ready, self._pending = self._pending, ""
        else:
            cut = self._pending.rfind("\n") + 1
            ready = self._pending[:cut]
            # A PEM block's lines go out together, once its END line is in.
            if ready.count("-----BEGIN ") > ready.count("-----END ") and len(self._pending) < 4 * 1024 * 1024:
                return
            self._pending = self._pending[cut:]
        if ready:
            self.target.write(scrub(ready))

    def isatty(self) -> bool:
        return self._interactive

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # pyright: ignore[reportIncompatibleVariableOverride]
        return getattr(self.target, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


def _isatty(stream: TextIO) -> bool:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return stream.isatty()
    return False


@contextlib.contextmanager
def redacted_output() -> Iterator[tuple[RedactingStream, RedactingStream]]:
    """stdout and stderr scrubbed until the block ends (then restored, with everything written)."""
    out, err = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved
        for stream in (out, err):
            with contextlib.suppress(OSError, ValueError):
                stream.close_out()


def reveal(stream: TextIO | RedactingStream, text: str) -> None:
    """Print a value the user asked for (a token), past the scrubbing of a RedactingStream."""
    if isinstance(stream, RedactingStream):
        stream.reveal(text)
    else:
        stream.write(text)
        stream.flush()
