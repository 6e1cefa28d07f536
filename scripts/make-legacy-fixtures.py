#!/usr/bin/python3
"""Writes test/fixtures/legacy.json: password hashes and tokens made by the Python service's own
libraries (passlib, argon2-cffi, PyJWT). Run once with Debian's python3-passlib, python3-argon2
and python3-jwt (/usr/bin/python3 scripts/make-legacy-fixtures.py); the output is committed."""
import json
import pathlib

import argon2
import jwt
import passlib
from passlib.hash import argon2 as passlib_argon2

SECRET = "legacy-python-service-secret-of-32-bytes!"
FAR_FUTURE = 4102444800  # 2100-01-01T00:00:00Z
PAST = 1577836800  # 2020-01-01T00:00:00Z

passlib_hasher = passlib_argon2.using(type="ID", memory_cost=102400, rounds=2, parallelism=8, digest_size=16)
cffi_hasher = argon2.PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)

fixtures = {
    "generator": f"passlib {passlib.__version__}, argon2-cffi {argon2.__version__}, PyJWT {jwt.__version__}",
    "hashes": [
        {"library": "passlib", "password": "correct horse battery staple", "hash": passlib_hasher.hash("correct horse battery staple")},
        {"library": "passlib", "password": "pässwörd ünïcode ✓", "hash": passlib_hasher.hash("pässwörd ünïcode ✓")},
        {"library": "argon2-cffi", "password": "Tr0ub4dor&3", "hash": cffi_hasher.hash("Tr0ub4dor&3")},
    ],
    "jwt": {
        "secret": SECRET,
        "valid": jwt.encode({"sub": "legacy_alice", "exp": FAR_FUTURE}, SECRET, algorithm="HS256"),
        "expired": jwt.encode({"sub": "legacy_alice", "exp": PAST}, SECRET, algorithm="HS256"),
        "other_secret": jwt.encode({"sub": "legacy_alice", "exp": FAR_FUTURE}, "not-the-secret-" * 3, algorithm="HS256"),
    },
}
out = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "legacy.json"
out.write_text(json.dumps(fixtures, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out}")
