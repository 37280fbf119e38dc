"""The MNS errors localcloud returns, and THE table of which documented code each mistake produces.

Codes, statuses and messages follow the Simple Message Queue (formerly MNS) "Error codes" page and the
per-operation pages (DeleteMessage: a malformed handle is ``ReceiptHandleError``, an expired one
``MessageNotExist``). Where the docs give one generic code for a family of mistakes -- ``InvalidArgument``
"The value of <Element> should between <Low> and <High> seconds/bytes" -- the message names the element.
``docs/localcloud.md`` carries the same table for readers who don't read Python.
"""
from __future__ import annotations

from typing import Any, NoReturn

from localcloud.base import ApiError


class MnsError(ApiError):
    """An MNS error: rendered as ``<Error><Code/><Message/><RequestId/><HostId/></Error>``."""


class MnsBatchError(MnsError):
    """A batch action where some entries failed: the body lists every entry (``items``), in the shape the
    SDK's batch decoders read (``<Messages>`` for BatchSendMessage, ``<Errors>`` for BatchDeleteMessage).
    The entries that succeeded took effect."""

    def __init__(self, status: int, code: str, message: str, root: str, items: list[dict[str, str]]) -> None:
        super().__init__(status, code, message)
        self.root = root  # "Messages" | "Errors"
        self.items = items


# mistake key -> (HTTP status, code, message); messages take str.format fields from the caller.
ERRORS: dict[str, tuple[int, str, str]] = {
    # --- authentication (checked before the action) ---------------------------------------------------------
    "auth_missing": (400, "MissingAuthorizationHeader", "Authorization header is required."),
    "auth_malformed": (400, "InvalidAuthorizationHeader", "The Authorization header format is invalid."),
    "date_missing": (400, "MissingDateHeader", "Date header is required."),
    "date_invalid": (400, "InvalidDateHeader", "The Date header format is invalid."),
    # More than 15 minutes between the request's Date and the server's clock (either way).
    "time_expired": (408, "TimeExpired", "The http request you sent is expired."),
    "access_key_unknown": (403, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist."),
    # An STS key whose security-token header is missing or different: the docs have no token-specific code;
    # AccessDenied ("forbidden for this operation", 403) is the closest documented one.
    "token_mismatch": (403, "AccessDenied",
                       "The OwnerId that your Access Key Id associated to is forbidden for this operation."),
    # The endpoint's host names an account (<account>.mns.<region>...) that is not the access key's own.
    "account_mismatch": (403, "AccessDenied",
                         "The OwnerId that your Access Key Id associated to is forbidden for this operation."),
    "signature_mismatch": (403, "SignatureDoesNotMatch",
                           "The http request you specified did not match with the signature we calculated. "
                           "Server string to sign is: {to_sign!r}"),
    # Content-MD5 differs from the body (the docs' own spelling: "Degist").
    "content_md5_mismatch": (400, "InvalidDegist", "The Content-MD5 you specified is invalid."),

    # --- request shape ----------------------------------------------------------------------------------------
    "url_invalid": (400, "InvalidRequestURL", "Http request URL format invalid: {detail}"),
    "query_invalid": (400, "InvalidQueryString", "Http request URL contains invalid querystring item \"{item}\"."),
    "xml_malformed": (400, "MalformedXML", "The XML you provided was not well-formed."),
    # Right XML, wrong content (missing element, not an integer ...).
    "xml_invalid": (400, "InvalidArgument",
                    "The XML you provided did not validate against our published schema, cause by {element}."),
    # Any value out of its documented range, including a message body longer than the queue's
    # MaximumMessageSize and a batch over 16 messages / 64 KB: the docs' generic range error.
    "out_of_range": (400, "InvalidArgument", "The value of {element} should between {low} and {high} {unit}."),
    "receipt_handle_missing": (400, "MissingReceiptHandle", "ReceiptHandle is required."),
    "visibility_timeout_missing": (400, "MissingVisibilityTimeout", "VisibilityTimeout is required."),

    # --- queues -----------------------------------------------------------------------------------------------
    "queue_name_invalid": (400, "InvalidQueueName",
                           "The queue name you provided is invalid: it must start with a letter and contain only "
                           "letters, digits and '-'."),
    "queue_name_length": (400, "QueueNameLengthError", "The length of queue name should between 1 and 256."),
    "queue_not_exist": (404, "QueueNotExist", "The queue name you provided is not exist."),
    # Same name, different attributes (same attributes: 204, no error).
    "queue_exists": (409, "QueueAlreadyExist", "The queue you want to create is already exist."),

    # --- messages ---------------------------------------------------------------------------------------------
    # Nothing to receive/peek, or a well-formed receipt handle that is no longer the message's latest (the
    # message was deleted, became visible again, or was received again).
    "message_not_exist": (404, "MessageNotExist", "Message not exist."),
    # A receipt handle this server never issued (not decodable).
    "receipt_handle_invalid": (400, "ReceiptHandleError", "The receipt handle you provide is not valid."),
}

# Batch failures carry their entries; the top-level code is the first failed entry's (that is what the SDK
# raises), the status the worst of them.
BATCH_SEND_ROOT = "Messages"
BATCH_DELETE_ROOT = "Errors"

# Documented codes never produced, and why (kept beside the table so a reader sees the whole list):
NOT_PRODUCED = {
    "InternalError / InternalServerError": "only by fault injection (a bug in the emulator answers InternalError)",
    "QueueDeletedRecently": "a deleted queue's name is free again at once",
    "QpsLimitExceeded": "no throttling is modelled (inject it as a fault)",
    "MissingVersionHeader / InvalidVersionHeader": "x-mns-version is not checked (the SDK always sends 2015-06-06)",
}


def error(key: str, **fields: Any) -> MnsError:
    status, code, template = ERRORS[key]
    return MnsError(status, code, template.format(**fields) if fields else template)


def fail(key: str, **fields: Any) -> NoReturn:
    raise error(key, **fields)


def out_of_range(element: str, low: int, high: int, unit: str = "seconds") -> NoReturn:
    fail("out_of_range", element=element, low=low, high=high, unit=unit)
