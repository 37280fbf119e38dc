"""Request signatures of RPC calls, verified the way the gateway does: ACS3-HMAC-SHA256 (Alibaba Cloud
signature v3, the current SDKs) and, at the end of this module, signature version 1.0 (the classic SDK).

The canonicalisation mirrors ``alibabacloud_tea_openapi.utils.Utils.get_authorization`` (tea-openapi 0.4.x):

    canonical request = METHOD \\n PATH \\n CANONICAL_QUERY \\n CANONICAL_HEADERS \\n SIGNED_HEADERS \\n HEX_SHA256(body)
    canonical query   = keys sorted (as-is), each ``key=quote(value, safe='~')`` joined by ``&``
    canonical headers = ``name:value\\n`` per signed header (lower-case names, stripped values; repeated
                        headers joined by ``,`` after sorting)
    string to sign    = ``ACS3-HMAC-SHA256\\n`` + HEX_SHA256(canonical request)
    signature         = HEX HMAC-SHA256(secret, string to sign)

The sync SDK puts the query on the wire with ``urlencode`` (space -> ``+``) but signs ``quote`` (space ->
``%20``), so the server must decode the query and re-encode it before checking, never sign the raw string.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping
from urllib.parse import quote

from localcloud.base import ApiError

ALGORITHM = "ACS3-HMAC-SHA256"

DEFAULT_ACCESS_KEY_ID = "LTAI-localcloud"
DEFAULT_ACCESS_KEY_SECRET = "localcloud-secret"
DEFAULT_ACCOUNT_ID = "1234567890123456"


@dataclass(frozen=True)
class Credential:
    """One access key the emulator accepts.

    ``security_token``: if set, requests with this key must carry exactly this ``x-acs-security-token``
    (an STS key). If None, a token is optional and any token is accepted as long as it is signed.
    """

    access_key_id: str
    secret: str
    account_id: str = DEFAULT_ACCOUNT_ID
    security_token: str | None = None


def default_credentials() -> dict[str, Credential]:
    return {DEFAULT_ACCESS_KEY_ID: Credential(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_ACCOUNT_ID)}


def credentials_from(spec: Mapping[str, object] | None) -> dict[str, Credential]:
    """Accept ``{ak: Credential}``, ``{ak: (secret, account_id)}`` or ``{ak: (secret, account_id, token)}``."""
    if spec is None:
        return default_credentials()
    out: dict[str, Credential] = {}
    for ak, value in spec.items():
        if isinstance(value, Credential):
            out[ak] = value
        elif isinstance(value, (tuple, list)) and 1 <= len(value) <= 3:
            secret = str(value[0])
            account = str(value[1]) if len(value) > 1 else DEFAULT_ACCOUNT_ID
            token = str(value[2]) if len(value) > 2 and value[2] is not None else None
            out[ak] = Credential(ak, secret, account, token)
        else:
            raise ValueError(f"bad credential for {ak!r}: expected (secret, account_id[, token])")
    return out


# --- canonical forms ------------------------------------------------------------------------------------


def canonical_query(params: Mapping[str, str]) -> str:
    # Keys are not encoded by the SDK (ours are plain ASCII like ``Permissions.1.PortRange``).
    return "&".join(f"{k}={quote(params[k], safe='~', encoding='utf-8')}" for k in sorted(params))


def canonical_headers(headers: Mapping[str, list[str]], signed: Iterable[str]) -> str:
    lines = []
    for name in signed:
        values = sorted(v.strip() for v in headers.get(name, []))
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, list[str]],
    signed_headers: list[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret: str, to_sign: str) -> str:
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- client side (used by tests that speak raw HTTP) -----------------------------------------------------


def sign_headers(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    secret: str,
) -> dict[str, str]:
    """Return ``headers`` plus ``x-acs-content-sha256`` and ``Authorization``, signing every header given
    (as the SDK does). Header names are lower-cased."""
    out = {k.lower(): v for k, v in headers.items()}
    out["x-acs-content-sha256"] = sha256_hex(body)
    signed = sorted(out)
    canonical = canonical_request(method, path, query, {k: [v] for k, v in out.items()}, signed, out["x-acs-content-sha256"])
    sig = signature(secret, string_to_sign(canonical))
    out["authorization"] = f"{ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(signed)},Signature={sig}"
    return out


# --- server side -----------------------------------------------------------------------------------------

_AUTH_RE = re.compile(
    r"^(?P<alg>[A-Z0-9-]+)\s+Credential=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<sh>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)$"
)


@dataclass(frozen=True)
class Authorization:
    algorithm: str
    access_key_id: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str | None) -> Authorization:
    if not value or not value.strip():
        raise ApiError(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards: "
                       "missing Authorization header.")
    m = _AUTH_RE.match(value.strip())
    if not m:
        raise ApiError(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards: "
                       "malformed Authorization header.")
    return Authorization(m["alg"], m["ak"], m["sh"].split(";"), m["sig"].lower())


def verify(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, list[str]],
    body: bytes,
    credentials: Mapping[str, Credential],
) -> Credential:
    """Check the request's ACS3 signature; return the caller's credential or raise :class:`ApiError`.

    ``query`` is the *decoded* query; ``headers`` maps lower-case names to every value received.
    """
    auth = parse_authorization(_first(headers, "authorization"))
    if auth.algorithm != ALGORITHM:
        raise ApiError(400, "IncompleteSignature", f"Unsupported signature algorithm {auth.algorithm!r}; "
                       f"localcloud supports {ALGORITHM}.")
    signed = auth.signed_headers
    if signed != sorted(signed) or any(h != h.lower() or not h for h in signed):
        raise ApiError(400, "IncompleteSignature", "SignedHeaders must be lower-case and sorted.")
    # The headers that carry the request's meaning must be covered by the signature.
    must_sign = {"host", "x-acs-content-sha256"} | {h for h in headers if h.startswith("x-acs-")}
    missing = sorted(must_sign - set(signed))
    if missing:
        raise ApiError(400, "IncompleteSignature", f"Headers must be signed: {', '.join(missing)}.")
    absent = [h for h in signed if h not in headers]
    if absent:
        raise ApiError(400, "IncompleteSignature", f"Signed headers missing from the request: {', '.join(absent)}.")

    cred = credentials.get(auth.access_key_id)
    if cred is None:
        raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")

    token = _first(headers, "x-acs-security-token")
    if cred.security_token is not None and token != cred.security_token:
        raise ApiError(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is invalid or does not "
                       "belong to the access key.")
    if token is not None and _first(headers, "x-acs-accesskey-id") not in (None, auth.access_key_id):
        raise ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                       "x-acs-accesskey-id does not match the Credential of the signature.")

    payload_hash = sha256_hex(body)
    if (_first(headers, "x-acs-content-sha256") or "").lower() != payload_hash:
        raise ApiError(400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the request body.")

    canonical = canonical_request(method, path, query, headers, signed, payload_hash)
    expected = signature(cred.secret, string_to_sign(canonical))
    if not hmac.compare_digest(expected, auth.signature):
        raise ApiError(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation. "
                       f"Server string to sign is: {string_to_sign(canonical)!r}")
    return cred


def _first(headers: Mapping[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


# --- RPC signature version 1.0 (the classic SDK: aliyun-python-sdk-core) -------------------------------------
#
# Mirrors ``aliyunsdkcore.auth.composer.rpc_signature_composer``: the signature parameters travel with the
# others (query, or query + form body for POST), and
#
#     canonical query = sorted by key, ``quote(k, safe='~')=quote(v, safe='~')`` joined by ``&`` (RFC 3986:
#                       space -> %20, * -> %2A, ~ kept), over every parameter but Signature
#     string to sign  = METHOD & %2F & quote(canonical query, safe='~')
#     Signature       = base64(HMAC-SHA1(secret + "&", string to sign))
#
# Timestamp (ISO 8601 UTC) must be within 15 minutes of the server's clock and SignatureNonce unused in the
# last 15 minutes (a replayed request is refused even with a valid signature).

V1_PARAMS = ("AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp")
V1_METHODS = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
V1_WINDOW_S = 15 * 60


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(f"{quote(k, safe='~')}={quote(params[k], safe='~')}"
                         for k in sorted(params) if k != "Signature")
    return f"{method.upper()}&%2F&{quote(canonical, safe='~')}"


def v1_signature(secret: str, to_sign: str, method: str = "HMAC-SHA1") -> str:
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode("utf-8"), V1_METHODS[method]).digest()
    return base64.b64encode(digest).decode()


class NonceCache:
    """SignatureNonces seen in the last 15 minutes (thread-safe; old ones are forgotten as new ones come)."""

    def __init__(self, window_s: float = V1_WINDOW_S) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def use(self, nonce: str, now: float | None = None) -> bool:
        """Record ``nonce``; False if it was already used within the window."""
        now = time.time() if now is None else now
        with self._lock:
            horizon = now - self.window_s
            while self._seen:  # forget what left the window: insertion order is time order
                oldest = next(iter(self._seen))
                if self._seen[oldest] > horizon:
                    break
                del self._seen[oldest]
            seen = self._seen.get(nonce)
            if seen is not None and now - seen < self.window_s:
                return False
            self._seen.pop(nonce, None)
            self._seen[nonce] = now
            return True


def is_v1(params: Mapping[str, str], headers: Mapping[str, list[str]]) -> bool:
    """A classic (1.0) signed call: a ``Signature`` parameter and no ACS3 Authorization header."""
    return "Signature" in params and not _first(headers, "authorization")


def verify_v1(method: str, params: Mapping[str, str], credentials: Mapping[str, Credential], nonces: NonceCache,
              now: float | None = None) -> Credential:
    """Check an RPC call signed the classic way (parameters decoded, query and form body merged)."""
    missing = [p for p in V1_PARAMS if not params.get(p)]
    if missing:
        raise ApiError(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards: "
                       f"missing parameter {', '.join(missing)}.")
    if params["SignatureVersion"] != "1.0":
        raise ApiError(400, "IncompleteSignature", f"Unsupported SignatureVersion {params['SignatureVersion']!r}: "
                       "localcloud verifies 1.0 (parameters) and ACS3-HMAC-SHA256 (Authorization header).")
    if params["SignatureMethod"] not in V1_METHODS:
        raise ApiError(400, "IncompleteSignature", f"Unsupported SignatureMethod {params['SignatureMethod']!r}; "
                       f"supported: {', '.join(V1_METHODS)}.")
    cred = credentials.get(params["AccessKeyId"])
    if cred is None:
        raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    if cred.security_token is not None and params.get("SecurityToken") != cred.security_token:
        raise ApiError(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is invalid or does not "
                       "belong to the access key.")
    try:
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ApiError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well "
                       "formatted (expected yyyy-MM-ddTHH:mm:ssZ, UTC).") from None
    now = time.time() if now is None else now
    if abs(now - stamp.timestamp()) > V1_WINDOW_S:
        raise ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    to_sign = v1_string_to_sign(method, params)
    expected = v1_signature(cred.secret, to_sign, params["SignatureMethod"])
    if not hmac.compare_digest(expected, params.get("Signature", "")):
        # The classic SDK compares the part after the first ':' with its own string to sign (and then says
        # InvalidAccessKeySecret): keep exactly one ':' before it.
        raise ApiError(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. "
                       f"server string to sign is:{to_sign}")
    if not nonces.use(params["SignatureNonce"], now):
        raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
    return cred
