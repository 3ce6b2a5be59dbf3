"""AWS Signature Version 4 for S3, written from the public AWS specification (stdlib only).

Used by the MinIO stand-in's server (to check every request against MINIO_ROOT_USER /
MINIO_ROOT_PASSWORD) and by its `mc` (to sign the requests it sends). Test-only code of
backend-infra; never part of a real deploy.

Covers the Authorization-header form of SigV4 ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
Signature=..."). Not covered, and refused by the server with a clear error: presigned URLs
(X-Amz-Signature in the query string), POST policy uploads, Signature Version 2.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
# x-amz-content-sha256 values whose body is not hashed as a whole (aws-chunked uploads); the
# seed signature still covers the headers.
STREAMING = (
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
)
MAX_SKEW = _dt.timedelta(minutes=15)

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)


class SigV4Error(Exception):
    """A request that fails authentication; `code` is the S3 error code, `status` its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def uri_encode(value: str, encode_slash: bool) -> str:
    """RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ (and / in paths)."""
    return quote(value, safe="/~" if not encode_slash else "~")


def canonical_uri(raw_path: str) -> str:
    """The path as S3 canonicalises it: decoded once, then encoded again (no double encoding)."""
    return uri_encode(unquote(raw_path or "/"), encode_slash=False) or "/"


def canonical_query(raw_query: str, drop: tuple[str, ...] = ()) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        if part == "":
            continue
        key, _, value = part.partition("=")
        key, value = unquote(key), unquote(value)
        if key in drop:
            continue
        pairs.append((uri_encode(key, True), uri_encode(value, True)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trim(value: str) -> str:
    return " ".join(value.strip().split())


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(
    secret: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    signed_headers: list[str],
    payload_hash: str,
    amz_date: str,
    scope: str,
) -> tuple[str, str]:
    """Returns (signature hex, canonical request) for lower-case `headers`."""
    canonical_headers = "".join(f"{h}:{_trim(headers.get(h, ''))}\n" for h in signed_headers)
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    date, region, service, _ = scope.split("/")
    sig = hmac.new(signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256)
    return sig.hexdigest(), canonical_request


def sign_request(
    access_key: str,
    secret: str,
    method: str,
    host: str,
    raw_path: str,
    raw_query: str = "",
    body: bytes = b"",
    extra_headers: dict[str, str] | None = None,
    region: str = "us-east-1",
    now: _dt.datetime | None = None,
) -> dict[str, str]:
    """Headers (Host, X-Amz-Date, X-Amz-Content-Sha256, Authorization, extras) for one request."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {k.lower(): v for k, v in (extra_headers or {}).items()}
    headers.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
    signed = sorted(headers)
    sig, _ = signature(secret, method, raw_path, raw_query, headers, signed, payload_hash, amz_date, scope)
    headers["authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(signed)}, Signature={sig}"
    )
    return headers


def verify(
    credentials: dict[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes | None,
    region: str | None = None,
    now: _dt.datetime | None = None,
) -> str:
    """Checks a request signed with an Authorization header; returns the access key.

    `credentials`: access key -> secret. `headers`: lower-case names. `body`: the whole body, or
    None when it is streamed (aws-chunked). `region`: the one region accepted (None: any).
    Raises SigV4Error with S3's error code.
    """
    auth = headers.get("authorization")
    query_keys = {unquote(p.partition("=")[0]) for p in raw_query.split("&") if p}
    if "X-Amz-Signature" in query_keys or "X-Amz-Credential" in query_keys:
        raise SigV4Error(
            "AccessDenied", "presigned URLs are not supported by this S3 stand-in (test-only server)"
        )
    if not auth:
        raise SigV4Error("AccessDenied", "Access Denied. (anonymous requests are not allowed)")
    if auth.startswith("AWS "):
        raise SigV4Error(
            "AccessDenied", "Signature Version 2 is not supported by this S3 stand-in; use SigV4"
        )
    match = _AUTH.match(auth)
    if not match:
        raise SigV4Error("AuthorizationHeaderMalformed", "The authorization header is malformed.", 400)
    cred = match.group("cred").split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise SigV4Error("AuthorizationHeaderMalformed", "The credential scope is malformed.", 400)
    access_key, date, req_region, service, _ = cred
    if service != "s3":
        raise SigV4Error(
            "AuthorizationHeaderMalformed", f"The credential scope names service '{service}', not 's3'.", 400
        )
    if region is not None and req_region != region:
        raise SigV4Error(
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{req_region}' is wrong; expecting '{region}'.",
            400,
        )
    secret = credentials.get(access_key)
    if secret is None:
        raise SigV4Error(
            "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records."
        )
    amz_date = headers.get("x-amz-date") or ""
    try:
        when = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        raise SigV4Error("AccessDenied", "AWS authentication requires a valid X-Amz-Date header") from None
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if abs(now - when) > MAX_SKEW:
        raise SigV4Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        )
    if date != amz_date[:8]:
        raise SigV4Error(
            "SignatureDoesNotMatch", "The credential date does not match the date of X-Amz-Date."
        )
    signed = match.group("signed").split(";")
    if "host" not in signed:
        raise SigV4Error("AccessDenied", "The host header must be signed.")
    for name in signed:
        if name not in headers:
            raise SigV4Error("AccessDenied", f"The signed header '{name}' is missing from the request.")
    payload_hash = headers.get("x-amz-content-sha256")
    if payload_hash is None:
        raise SigV4Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400)
    if payload_hash not in (UNSIGNED, *STREAMING):
        if not re.fullmatch(r"[0-9a-f]{64}", payload_hash):
            raise SigV4Error("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                             "STREAMING-... or a SHA-256 hex digest", 400)
        if body is not None and hashlib.sha256(body).hexdigest() != payload_hash:
            raise SigV4Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
    scope = "/".join(cred[1:])
    expected, _ = signature(
        secret, method, raw_path, raw_query, headers, signed, payload_hash, amz_date, scope
    )
    if not hmac.compare_digest(expected, match.group("sig")):
        raise SigV4Error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return access_key
