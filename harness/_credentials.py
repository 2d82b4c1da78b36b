"""The header and query parameter names that carry credentials or account identifiers.

Recording drops them (:func:`harness.secrets.filter_headers`, :func:`harness.secrets.
filter_uri`, which re-export both sets) and the mock server masks them in what it
shows of a request. Kept apart from :mod:`harness.secrets` so that the server reads
two sets, not the scanner's patterns (about 3 ms at start). Standard library only.
"""

from __future__ import annotations

__all__ = ["DEFAULT_HEADERS", "DEFAULT_QUERY"]

#: Request/response header names dropped by default when recording (lower-case).
#: Credentials: ``authorization`` (OpenAI, and every bearer API), ``proxy-authorization``,
#: ``x-api-key`` (Anthropic), ``api-key`` (Azure OpenAI), ``x-goog-api-key`` (Gemini),
#: ``x-amz-security-token`` (AWS temporary credentials' session token, beside SigV4's
#: ``authorization``), ``cookie`` / ``set-cookie`` (e.g. Cloudflare's ``__cf_bm`` on
#: api.openai.com).
#: Account identifiers: ``openai-organization`` / ``openai-project`` (OpenAI's request
#: headers, the first also echoed in responses), ``anthropic-organization-id`` (Anthropic
#: responses), ``x-goog-user-project`` (Google Cloud's quota/billing project), and the
#: generic ``x-organization-id`` / ``x-project-id`` some gateways use.
DEFAULT_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-amz-security-token",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
        "anthropic-organization-id",
        "x-goog-user-project",
        "x-organization-id",
        "x-project-id",
    }
)

#: Query parameter names dropped by default from recorded URIs (compared case-blind,
#: after percent-decoding): Gemini's ``key``, the usual credential names, and AWS
#: SigV4's query-string signing (a presigned URL): ``X-Amz-Signature``,
#: ``X-Amz-Security-Token`` and ``X-Amz-Credential`` (the access key id), as their
#: header forms ``authorization`` and ``x-amz-security-token`` are dropped.
DEFAULT_QUERY: frozenset[str] = frozenset(
    {
        "key",
        "api_key",
        "api-key",
        "access_token",
        "token",
        "x-amz-signature",
        "x-amz-security-token",
        "x-amz-credential",
    }
)
