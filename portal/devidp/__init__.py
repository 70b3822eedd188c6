"""A development-only OpenID provider, built from Authlib's server components.

`make run` enables it (`PORTAL_DEV_IDP`, on by default only in development; production
refuses to start with it). Each demo organisation has its own realm and issuer,
`{BASE_URL}/devidp/<realm>`, as each real company has its own IdP; a page lists the realm's
demo people to pick from.
"""

from portal.devidp.views import bp

__all__ = ["bp"]
