"""The server key, and the encryption of AppSecrets at rest.

AppSecrets cannot be hashed like APPCODEs: the signed-header scheme recomputes
``md5(app_key&timestamp&app_secret)`` on the server, so it needs the secret itself. They are
stored encrypted with AES-256-GCM under a 32-byte server key that lives outside the database
(``FACELIVE_SECRET_KEY`` or ``data_dir/server.key``), so a copy of the database alone reveals
no secret.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facelive.errors import InternalError

KEY_FILE = "server.key"
_KEY_BYTES = 32
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_NONCE_BYTES = 12
_TAG_BYTES = 16
_VERSION = "v1:"


class SecretDecryptionError(InternalError):
    """A stored secret failed authentication: wrong server key, or the row was altered.

    A 5000 to the caller: nothing they send can fix it; the operator must restore the server
    key that encrypted the database (or rotate the key).
    """


def _parse_key(text: str, source: str) -> bytes:
    value = text.strip()
    if not _HEX_KEY.fullmatch(value):
        # Never echo the value: it may be a real key with a typo.
        raise ValueError(
            f"{source} must be 64 hexadecimal digits (32 bytes), got {len(value)} characters "
            "that are not; generate one with: python3 -c 'import secrets; "
            "print(secrets.token_hex(32))'"
        )
    return bytes.fromhex(value)


def _make_private_dir(path: Path) -> None:
    """Creates ``path`` with mode 0700; an existing folder is left as its owner set it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir()
    except FileExistsError:
        return
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; chmod is not


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish_new_key(path: Path) -> None:
    """Writes a fresh key to ``path`` unless one is already there.

    The key is written whole to a private temporary file, then hard-linked to its name: the
    link fails when the name exists, so a key is never overwritten and two processes starting
    at once end up both reading the one that won.
    """
    fd, tmp = tempfile.mkstemp(prefix=".server.key.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)  # before any byte of the key is written
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_bytes(_KEY_BYTES).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
            _fsync_dir(path.parent)
    finally:
        os.unlink(tmp)


def load_or_create_server_key(data_dir: Path, configured: str | None) -> bytes:
    """The 32-byte server key: ``configured`` (64 hex digits) if given, else ``server.key``.

    A missing ``data_dir/server.key`` is generated (mode 0600; ``data_dir`` made 0700 when
    created). Raises ``ValueError`` when the configured value or the file is malformed.
    """
    if configured is not None:
        return _parse_key(configured, "the configured secret key (FACELIVE_SECRET_KEY)")
    path = data_dir / KEY_FILE
    if not path.exists():
        _make_private_dir(data_dir)
        _publish_new_key(path)
    return _parse_key(path.read_text(encoding="ascii"), f"the server key file {path}")


class SecretCipher:
    """AES-256-GCM for short secrets, bound to the row they belong to.

    ``aad`` (the key's ``app_key``) is authenticated but not stored: a ciphertext copied to
    another key's row fails to decrypt. Tokens read ``v1:`` + url-safe base64 of
    nonce (12 random bytes) + ciphertext + tag (16 bytes).
    """

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"the server key must be {_KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, aad: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, aad: str) -> str:
        """The plaintext; ``SecretDecryptionError`` for a wrong key, ``aad`` or altered token."""
        if not token.startswith(_VERSION):
            raise SecretDecryptionError()
        try:
            # validate=True: stray characters are an alteration, not something to skip.
            raw = base64.b64decode(token[len(_VERSION) :], altchars=b"-_", validate=True)
        except ValueError as exc:  # binascii.Error, or a non-ASCII character
            raise SecretDecryptionError() from exc
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SecretDecryptionError()
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad.encode("utf-8"))
        except InvalidTag as exc:
            raise SecretDecryptionError() from exc
        return plain.decode("utf-8")
