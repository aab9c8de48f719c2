"""Operators' passwords, sessions and CSRF tokens.

Passwords are kept as scrypt hashes (RFC 7914; parameters in :mod:`pipeline.defs`) in the
form ``scrypt$N$r$p$salt$key`` (base64), so a hash made with older parameters still
verifies. A session is a random token in an HttpOnly, SameSite=Strict cookie; the store
keeps only its SHA-256, with an expiry, and a CSRF token of its own that every form carries
in a hidden field. Before login, the login form carries a token that must match a cookie set
with the form (double submit), so a login cannot be forged either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from pipeline import defs
from pipeline.errors import BlankettError

SCHEME = "scrypt"


class PasswordError(BlankettError):
    """A password that may not be used (too short). Choose a longer one."""

    exit_code = 2


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=defs.SCRYPT_MAXMEM_BYTES)


def hash_password(password: str) -> str:
    if len(password) < defs.PASSWORD_MIN_LENGTH:
        raise PasswordError(f"a password needs at least {defs.PASSWORD_MIN_LENGTH} characters")
    salt = secrets.token_bytes(defs.SCRYPT_SALT_BYTES)
    key = _scrypt(password, salt, defs.SCRYPT_N, defs.SCRYPT_R, defs.SCRYPT_P, defs.SCRYPT_KEY_BYTES)
    return f"{SCHEME}${defs.SCRYPT_N}${defs.SCRYPT_R}${defs.SCRYPT_P}${_b64(salt)}${_b64(key)}"


# Verified when the operator is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH: str | None = None


def verify_password(password: str, stored: str | None) -> bool:
    global _DUMMY_HASH
    if stored is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        verify_password(password, _DUMMY_HASH)
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = _unb64(key)
        got = _scrypt(password, _unb64(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def new_token() -> str:
    return secrets.token_urlsafe(defs.TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def session_expiry(start: datetime | None = None) -> datetime:
    return (start or datetime.now(timezone.utc)) + timedelta(seconds=defs.SESSION_LIFETIME_S)


def same_token(a: str | None, b: str | None) -> bool:
    """Two tokens are equal (constant time); a missing one never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
