"""The ``Ed25519Verifier`` port on the ``cryptography`` library (the ``local`` extra; the Worker
uses WebCrypto instead and never vendors it)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class CryptographyEd25519:
    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):  # ValueError: a key that is not 32 bytes
            return False
        return True
