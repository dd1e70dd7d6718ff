"""HTTP signature verification as OCI does it (draft-cavage, ``rsa-sha256``, session tokens).

A request is genuine when it is signed with the session key carried in a genuine, unexpired,
unrevoked resource-principal token (``keyId="ST$<token>"``), covers the headers OCI requires,
and, for a request with a body, its ``x-content-sha256`` and ``content-length`` match the body
that arrived.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Container, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from localdev.credentials import Identity

_SIGNATURE_FIELD = re.compile(r'(\w+)="([^"]*)"')
_ALWAYS_SIGNED = frozenset({"date", "(request-target)", "host"})
_BODY_SIGNED = frozenset({"content-length", "content-type", "x-content-sha256"})


def verify(
    identity: Identity,
    revoked: Container[str],
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str | None:
    """None when the request is signed by a genuine session; else why not.

    ``headers`` are keyed in lower case; ``target`` is the request's path and query as sent.
    """
    authorization = headers.get("authorization", "")
    if not authorization.startswith("Signature "):
        return "missing signature"
    fields = dict(_SIGNATURE_FIELD.findall(authorization))
    key_id = fields.get("keyId", "")
    if fields.get("algorithm") != "rsa-sha256" or not key_id.startswith("ST$"):
        return "unsupported signature"
    try:
        public_key, claims = identity.session_key(key_id[3:])
    except Exception:
        return "invalid or expired session token"
    if claims.get("jti") in revoked:
        return "revoked session token"
    signed = fields.get("headers", "date").split()
    required = set(_ALWAYS_SIGNED)
    if method in ("POST", "PUT"):
        required |= _BODY_SIGNED
        expected_digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-content-sha256") != expected_digest:
            return "body digest mismatch"
        if headers.get("content-length") != str(len(body)):
            return "content-length mismatch"
    if not required <= set(signed):
        return "required headers not signed"
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in headers:
            lines.append(f"{name}: {headers[name]}")
        else:
            return f"signed header {name} missing"
    try:
        public_key.verify(
            base64.b64decode(fields.get("signature", "")),
            "\n".join(lines).encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return "signature does not verify"
    return None
