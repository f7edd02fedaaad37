"""The ``Ed25519Verifier`` port on the runtime's WebCrypto (``crypto.subtle``), which has Ed25519
natively: nothing to vendor into the Worker."""

from __future__ import annotations

import js
from pyodide.ffi import JsException, to_js

from ig.adapters.cloudflare.convert import js_bytes, to_js_object


class WebCryptoEd25519:
    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        algorithm = to_js_object({"name": "Ed25519"})
        try:
            key = await js.crypto.subtle.importKey("raw", js_bytes(public_key), algorithm, False, to_js(["verify"]))
            return bool(await js.crypto.subtle.verify(algorithm, key, js_bytes(signature), js_bytes(message)))
        except JsException:
            # importKey rejects a key that is not 32 bytes (DataError); workerd's verify rejects a
            # signature that is not 64 bytes (OperationError) where Node's resolves to false.
            return False
