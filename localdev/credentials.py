"""Resource-principal v2.2 credentials, minted locally, as OCI Functions provides them.

An :class:`Identity` plays the part of OCI's identity service: it signs
resource-principal session tokens (RPSTs, JWTs) that carry the session's public
key in their ``jwk`` claim. :meth:`Identity.mint` writes a fresh session key
and token to files, as the platform does inside a function's container, and
:func:`function_environment` names them in the variables the SDK reads.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TENANCY = "ocid1.tenancy.oc1..aaaaaaaalocaltenancy0000000000000000000000000000000000000"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaalocalcompartment000000000000000000000000000000000"
FUNCTION = "ocid1.fnfunc.oc1.iad.aaaaaaaalocalfunction0000000000000000000000000000000000000"
REGION = "us-ashburn-1"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Credentials:
    """One minted session: the files the SDK reads, and the token's id."""

    rpst_path: Path
    private_pem_path: Path
    token: str
    jti: str


class Identity:
    """Signs RPSTs, and tells a verifier which tokens are genuine and unexpired."""

    def __init__(self) -> None:
        self._key = _new_key()
        self.public_key = self._key.public_key()

    def mint(self, directory: Path, lifetime_seconds: int = 3600) -> Credentials:
        """Write a new session key and RPST into ``directory`` (replacing any there)."""
        directory.mkdir(parents=True, exist_ok=True)
        session_key = _new_key()
        now = int(time.time())
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "sub": FUNCTION,
            "iss": "authService.oracle.com",
            "aud": "oci",
            "res_type": "fnfunc",
            "res_id": FUNCTION,
            "res_tenant": TENANCY,
            "res_compartment": COMPARTMENT,
            "ttype": "res",
            "jti": jti,
            "iat": now,
            "exp": now + lifetime_seconds,
            "jwk": jwt.algorithms.RSAAlgorithm.to_jwk(session_key.public_key()),
        }
        token = jwt.encode(claims, self._key, algorithm="RS256")
        pem = session_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        rpst_path = directory / "rpst"
        pem_path = directory / "private.pem"
        # Write-then-rename, as a credential refresher would, so a reader never sees half a file.
        for path, content in ((rpst_path, token.encode()), (pem_path, pem)):
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(content)
            tmp.chmod(0o600)
            tmp.replace(path)
        return Credentials(rpst_path, pem_path, token, jti)

    def session_key(self, token: str) -> tuple[Any, dict[str, Any]]:
        """The session public key and claims of a genuine, unexpired token; raises otherwise."""
        claims = jwt.decode(token, self.public_key, algorithms=["RS256"], audience="oci")
        key = jwt.algorithms.RSAAlgorithm.from_jwk(
            json.loads(claims["jwk"]) if isinstance(claims["jwk"], str) else claims["jwk"]
        )
        return key, claims


def function_environment(credentials: Credentials, region: str = REGION) -> dict[str, str]:
    """The variables OCI Functions sets for a resource principal (version 2.2, file paths)."""
    return {
        "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
        "OCI_RESOURCE_PRINCIPAL_RPST": str(credentials.rpst_path.resolve()),
        "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(credentials.private_pem_path.resolve()),
        "OCI_RESOURCE_PRINCIPAL_REGION": region,
    }
