"""Identity: who a token stands for.

:class:`Authenticator` turns a bearer token into a :class:`~server.auth.Principal`,
whatever its kind:

=====================  ==================================================
``sbt_<id>_<secret>``  an API token of one organization (the directory)
HS256 JWT, ``typ``     a login's access token (the directory's sessions)
HS256 JWT, ``org``     an operator token (``switchboard token``)
RS256 / ES256 JWT      an external identity provider's token (OIDC)
=====================  ==================================================

Any other algorithm (``none`` included) is refused before anything else is
looked at.
"""

from __future__ import annotations

import jwt

from ..auth import Principal, Tokens
from ..errors import AuthError
from .directory import Directory
from .oidc import ALGORITHMS, Oidc


class Authenticator:
    def __init__(self, tokens: Tokens, directory: Directory, oidc: Oidc) -> None:
        self.tokens = tokens
        self.directory = directory
        self.oidc = oidc

    async def verify(self, raw: str) -> Principal:
        raw = raw.strip()
        if raw.startswith("sbt_"):
            return self.directory.token_principal(raw)
        try:
            header = jwt.get_unverified_header(raw)
        except jwt.PyJWTError:
            raise AuthError("the token is not valid: neither an API token nor a JWT") from None
        alg = header.get("alg")
        if alg == "HS256":
            claims = self.tokens.decode(raw)
            if claims.get("typ") == "access":
                return self.directory.user_principal(claims)
            if claims.get("typ") == "probe":
                return self.tokens.probe(claims)
            return self.tokens.operator(claims)
        if alg in ALGORITHMS and self.oidc:
            return await self.oidc.verify(raw, header)
        raise AuthError(f"the token's algorithm {alg!r} is not accepted")

    def is_server_operator(self, raw: str) -> bool:
        """Whether a token is a server-wide operator's (checked without I/O, for
        the connections kept in reserve when the server is full)."""
        try:
            return self.tokens.verify(raw.strip()).server_admin
        except (AuthError, jwt.PyJWTError):
            return False


__all__ = ["Authenticator", "Directory", "Oidc"]
