"""A throwaway restic repository whose ``forget`` serves as the reference for ``decide``.

``restic backup`` pays for a scrypt key derivation on every run (about 0.7 s with the
parameters ``restic init`` calibrates), far too slow for hundreds of snapshots. So the
repository is made by ``restic init`` and then:

* its master key (``restic cat masterkey``) is re-wrapped under a cheap scrypt setting
  and the calibrated key file removed, so each later restic run opens the repository
  in milliseconds;
* snapshots are written as restic writes them: the snapshot JSON, AES-256-CTR
  encrypted and Poly1305-AES authenticated under the master key, stored under the
  SHA-256 of the file. The time is written in the offset of the timeline's zone, as
  ``restic backup`` run in that zone records it (``test_tiers_restic`` checks this
  against a real ``restic backup --time``), and any instant can be written, including
  the second occurrence of a repeated wall time, which ``--time`` cannot name.

Every written time is read back through ``restic snapshots --json``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

PASSWORD = "oracle"
_POLY1305_R_MASK = bytes.fromhex("ffffff0ffcffff0ffcffff0ffcffff0f")
_TREE = hashlib.sha256(b"no tree: forget --dry-run never reads one").hexdigest()
_CHEAP_SCRYPT = {"N": 128, "r": 1, "p": 1}


def restic_binary() -> str | None:
    return shutil.which("restic")


def restic_version(binary: str) -> tuple[int, int, int]:
    out = subprocess.run([binary, "version"], check=True, capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"restic (\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise RuntimeError(f"cannot read the restic version from {out!r}")
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)))


@dataclass(frozen=True)
class _Key:
    encrypt: bytes
    mac_k: bytes
    mac_r: bytes

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> _Key:
        return cls(
            encrypt=base64.b64decode(document["encrypt"]),
            mac_k=base64.b64decode(document["mac"]["k"]),
            mac_r=base64.b64decode(document["mac"]["r"]),
        )

    @classmethod
    def from_scrypt(cls, password: str, salt: bytes) -> _Key:
        params = _CHEAP_SCRYPT
        derived = hashlib.scrypt(password.encode(), salt=salt, n=params["N"], r=params["r"], p=params["p"], dklen=64)
        return cls(encrypt=derived[:32], mac_k=derived[32:48], mac_r=derived[48:])

    def seal(self, plaintext: bytes) -> bytes:
        """nonce ‖ AES-256-CTR(plaintext) ‖ Poly1305-AES(ciphertext), restic's file format."""
        nonce = os.urandom(16)
        encryptor = Cipher(algorithms.AES(self.encrypt), modes.CTR(nonce)).encryptor()
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        block = Cipher(algorithms.AES(self.mac_k), modes.ECB()).encryptor()
        s = block.update(nonce) + block.finalize()
        r = bytes(a & b for a, b in zip(self.mac_r, _POLY1305_R_MASK, strict=True))
        return nonce + ciphertext + Poly1305.generate_tag(r + s, ciphertext)


@dataclass(frozen=True)
class ForgetGroup:
    host: str
    kept: dict[str, tuple[str, ...]]
    removed: frozenset[str]


class ResticRepo:
    """A local restic repository under ``path``, driven by ``binary``."""

    def __init__(self, binary: str, path: Path) -> None:
        self.binary = binary
        self.path = path
        self._home = path.parent / (path.name + "-home")
        self._master: _Key | None = None

    @classmethod
    def create(cls, binary: str, path: Path) -> ResticRepo:
        repo = cls(binary, path)
        repo._home.mkdir(parents=True, exist_ok=True)
        repo.run("init")
        master = json.loads(repo.run("cat", "masterkey"))
        repo._master = _Key.from_json(master)
        calibrated = list((path / "keys").iterdir())
        salt = os.urandom(64)
        wrapped = _Key.from_scrypt(PASSWORD, salt).seal(json.dumps(master, separators=(",", ":")).encode())
        key_file = {
            "created": datetime.now(UTC).isoformat(),
            "username": "oracle",
            "hostname": "oracle",
            "kdf": "scrypt",
            **_CHEAP_SCRYPT,
            "salt": base64.b64encode(salt).decode(),
            "data": base64.b64encode(wrapped).decode(),
        }
        repo._store("keys", json.dumps(key_file).encode())
        for old in calibrated:
            old.unlink()
        return repo

    def run(self, *args: str, tz: str = "UTC") -> str:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._home),
            "RESTIC_PASSWORD": PASSWORD,
            "RESTIC_REPOSITORY": str(self.path),
            "TZ": tz,
        }
        done = subprocess.run(
            [self.binary, "--no-cache", *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"restic {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def add_snapshot(self, time: datetime, host: str) -> str:
        """Write one snapshot taken at ``time`` (its offset is the one recorded); return its id."""
        if self._master is None:
            raise RuntimeError("the repository was not made by ResticRepo.create")
        document = {
            "time": time.isoformat(),
            "tree": _TREE,
            "paths": ["/data"],
            "hostname": host,
            "username": "oracle",
        }
        return self._store("snapshots", self._master.seal(json.dumps(document).encode()))

    def snapshots(self) -> dict[str, dict[str, Any]]:
        """Every snapshot's JSON as ``restic snapshots`` lists it, by id."""
        listed = json.loads(self.run("--json", "--no-lock", "snapshots"))
        return {snapshot["id"]: snapshot for snapshot in listed}

    def backup(self, file: Path, wall_time: str, host: str, tz: str) -> str:
        """A real ``restic backup --time`` run with ``TZ=tz``; returns the new snapshot's id
        or, from restic before 0.16, its short form."""
        out = self.run("--json", "backup", "--time", wall_time, "--host", host, str(file), tz=tz)
        (summary,) = [line for line in map(json.loads, out.splitlines()) if line.get("message_type") == "summary"]
        snapshot_id = summary["snapshot_id"]
        assert isinstance(snapshot_id, str)
        return snapshot_id

    def forget(self, keep: list[str], hosts: list[str], tz: str) -> dict[str, ForgetGroup]:
        """``forget --dry-run`` over ``hosts``, one group per host; run with ``TZ=tz``."""
        host_args = [arg for host in hosts for arg in ("--host", host)]
        out = self.run("--json", "--no-lock", "forget", "--dry-run", "--group-by", "host", *host_args, *keep, tz=tz)
        groups: dict[str, ForgetGroup] = {}
        for group in json.loads(out):
            keep_list = group.get("keep") or []
            reasons = group.get("reasons") or []
            if len(keep_list) != len(reasons):
                raise AssertionError(f"restic gave {len(keep_list)} kept snapshots but {len(reasons)} reasons")
            kept = {sn["id"]: tuple(reason["matches"]) for sn, reason in zip(keep_list, reasons, strict=True)}
            removed = frozenset(sn["id"] for sn in group.get("remove") or [])
            groups[group["host"]] = ForgetGroup(group["host"], kept, removed)
        return groups

    def _store(self, kind: str, content: bytes) -> str:
        name = hashlib.sha256(content).hexdigest()
        (self.path / kind / name).write_bytes(content)
        return name
