"""Encryption at rest for Secret bodies, and the key that does it.

AES-256-GCM (from `cryptography`) rather than Fernet: it is faster, authenticates the
ciphertext, and takes associated data, which binds each ciphertext to the object's key so
that a body copied onto another row fails to decrypt instead of leaking into the wrong
Secret. Ciphertexts carry a version prefix so that plain JSON (always starting with `{`)
written before encryption was switched on stays readable.

The key comes from `AXLE_ENCRYPTION_KEY` (base64 of 32 bytes, or any passphrase, stretched
with scrypt) or from `DATA_DIR/encryption-key`, created on first start with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "encryption-key"
KEY_BYTES = 32
PREFIX = b"axle-aesgcm-v1:"
_NONCE_BYTES = 12
# A fixed salt: the passphrase must map to the same key on every start, and the salt only
# separates axle's derivation from other uses of the same passphrase.
_SALT = b"axle.dev/encryption-key/v1"


def _decode_key_text(text: str) -> bytes:
    """Raw key bytes from base64 text, or a key stretched from a passphrase."""
    text = text.strip()
    if not text:
        raise ValueError("the encryption key is empty")
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            raw = decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == KEY_BYTES:
            return raw
    return hashlib.scrypt(text.encode(), salt=_SALT, n=2**14, r=8, p=1, dklen=KEY_BYTES)


def load_or_create_key(data_dir: Path, env_value: str | None) -> bytes:
    """The 32-byte key that encrypts Secrets: from `env_value` if set, else the key file.

    The key file is created (mode 0600, base64 text) when missing; an existing file that is
    readable by others is refused rather than silently trusted.
    """
    if env_value is not None and env_value.strip():
        return _decode_key_text(env_value)
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs below
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(text + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}"
        )
    return _decode_key_text(path.read_text())


class Cipher:
    """Encrypts and decrypts blobs with AES-256-GCM, bound to an associated-data string."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the encryption key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def encrypt(self, plain: bytes, associated: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return PREFIX + nonce + self._aead.encrypt(nonce, plain, associated)

    def decrypt(self, blob: bytes, associated: bytes) -> bytes:
        if not is_encrypted(blob):
            return blob
        start = len(PREFIX)
        nonce = blob[start : start + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[start + _NONCE_BYTES :], associated)
        except InvalidTag:
            raise ValueError("cannot decrypt a Secret: wrong encryption key") from None


def is_encrypted(blob: bytes) -> bool:
    return blob.startswith(PREFIX)
