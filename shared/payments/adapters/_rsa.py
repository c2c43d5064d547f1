"""RSA / AES-GCM primitives shared by the adapters.

`cryptography` is imported inside the functions: it is the heaviest import here and cold start is benchmarked.
Loaded keys are cached per PEM text, because parsing (and checking) an RSA private key costs milliseconds.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


class KeyFormatError(ValueError):
    """A key could not be loaded. Deliberately says nothing about the key material."""


def _der_or_pem(text: str) -> tuple[bool, bytes]:
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return True, stripped.encode("ascii")
    # Alipay's console hands out bare base64 keys without PEM armour.
    try:
        return False, base64.b64decode("".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("key is neither PEM nor base64 DER") from None


@lru_cache(maxsize=32)
def load_private_key(text: str) -> RSAPrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    is_pem, data = _der_or_pem(text)
    try:
        # Our own key from our own secret store: the RSA consistency check guards against hostile keys
        # and costs ~100 ms of cold start, so it is skipped (cryptography documents this for trusted keys).
        key = (
            serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
            if is_pem
            else serialization.load_der_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
        )
    except (ValueError, TypeError):
        raise KeyFormatError("private key could not be loaded") from None
    if not isinstance(key, RSAPrivateKey):
        raise KeyFormatError("private key is not RSA")
    return key


@lru_cache(maxsize=64)
def load_public_key(text: str) -> RSAPublicKey:
    """An RSA public key from a PEM certificate, a PEM public key, or bare base64 DER (SPKI or PKCS#1)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    is_pem, data = _der_or_pem(text)
    key: object
    try:
        if is_pem and b"CERTIFICATE" in data.split(b"\n", 1)[0]:
            key = x509.load_pem_x509_certificate(data).public_key()
        elif is_pem:
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError):
        raise KeyFormatError("public key could not be loaded") from None
    if not isinstance(key, RSAPublicKey):
        raise KeyFormatError("public key is not RSA")
    return key


def sign_sha256_rsa(message: bytes, private_key_text: str) -> str:
    """base64(SHA256withRSA, PKCS#1 v1.5): deterministic, which is what lets tests compare bytes."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = load_private_key(private_key_text).sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_sha256_rsa(message: bytes, signature_b64: str, public_key_text: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        load_public_key(public_key_text).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def aes_gcm_decrypt(key: bytes, nonce: bytes, ciphertext_and_tag: bytes, associated_data: bytes) -> bytes:
    """Raises ValueError on a bad key length or a bad tag (never echoes the key)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) not in (16, 24, 32):
        raise ValueError("AES key must be 16, 24 or 32 bytes")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext_and_tag, associated_data or None)
    except InvalidTag:
        raise ValueError("authentication tag did not verify") from None


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) not in (16, 24, 32):
        raise ValueError("AES key must be 16, 24 or 32 bytes")
    return AESGCM(key).encrypt(nonce, plaintext, associated_data or None)
