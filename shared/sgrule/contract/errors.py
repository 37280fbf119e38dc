"""One structured error type, and the one table that picks codes.

Every check in sgrule fails with :class:`SgruleError`, whose ``code`` is the code the ECS API itself
returns for the same mistake (``InvalidParam.PortRange``), so a ticket shows the real reason before any
cloud call. Where the API documentation lists several candidate codes for one mistake, :data:`CODES`
holds the choice (the most specific one) and the reason; nothing else in the code base names a status.
"""
from __future__ import annotations

from typing import Any, Literal

from .safe import text

ErrorSource = Literal["validation", "policy", "ecs", "runtime"]

# code -> (HTTP status the API uses, default message). Codes outside the ECS documentation are marked
# "ours"; they cover what the API never sees (the event envelope, the policy guard, the runtime).
CODES: dict[str, tuple[int, str]] = {
    # --- codes of ModifySecurityGroupEgressRule (its API reference's error table) ---
    "MissingParameter": (400, "A required parameter is missing."),
    "InvalidIpProtocol.ValueNotSupported": (
        400, "The specified parameter IpProtocol should not be null and only tcp, udp, icmp, gre or all is "
        "supported. Ignore case."),
    # Doc lists InvalidParam.PortRange, InvalidIpProtocol.Malformed and OperationDenied for a bad
    # PortRange; InvalidParam.PortRange names the parameter, so it wins.
    "InvalidParam.PortRange": (
        400, "The specified param PortRange or SourcePortRange is not valid. should be integer and less "
        "than 65535, range separator is '/'."),
    # SourcePortRange has its own, more specific code.
    "InvalidSourcePortRange.Malformed": (400, "The specified parameter SourcePortRange is not valid."),
    # A well-formed range that does not fit the protocol (TCP with -1/-1, ICMP with 80/80).
    "InvalidParam.ProtocolAndPortRangeMismatch": (400, "The specified Protocol and PortRange do not match."),
    "InvalidPolicy.Malformed": (400, "The specified parameter Policy is not valid."),
    # Not an integer -> Malformed; an integer outside 1..100 -> ValueNotSupported.
    "InvalidPriority.Malformed": (400, "The specified parameter Priority is not valid."),
    "InvalidPriority.ValueNotSupported": (400, "The specified Priority is invalid."),
    # Doc lists InvalidParam.DestCidrIp and InvalidDestCidrIp.Malformed; we use the InvalidParam.* family
    # for every address parameter so the four address codes read alike.
    "InvalidParam.DestCidrIp": (400, "The specified param DestCidrIp is not valid."),
    "InvalidParam.SourceCidrIp": (400, "The specified param SourceCidrIp is not valid."),
    "InvalidParam.Ipv6DestCidrIp": (400, "The specified parameter Ipv6DestCidrIp is not valid."),
    "InvalidParam.Ipv6SourceCidrIp": (400, "The specified parameter Ipv6SourceCidrIp is not valid."),
    "InvalidParam.DestIp": (400, "The Parameters DestCidrIp and Ipv6DestCidrIp cannot be set at the same time."),
    "InvalidParam.SourceIp": (
        400, "The Parameters SourceCidrIp and Ipv6SourceCidrIp cannot be set at the same time."),
    # IPv4 on one side and IPv6 on the other.
    "InvalidParameter.Conflict": (400, "IPv6 and IPv4 addresses cannot exist at the same time."),
    # ICMP (an IPv4 protocol) with IPv6 addresses, ICMPv6 with IPv4 ones: the doc's specific pair wins over
    # the generic InvalidParam.ProtocolAndAddressFamilyMismatch.
    "InvalidParam.Ipv4ProtocolConflictWithIpv6Address": (
        400, "IPv6 address cannot be specified for IPv4-specific protocol."),
    "InvalidParam.Ipv6ProtocolConflictWithIpv4Address": (
        400, "IPv4 address cannot be specified for IPv6-specific protocol."),
    "MissingParameter.Dest": (
        400, "One of the parameters DestCidrIp, DestGroupId or DestPrefixListId must be specified."),
    "InvalidNicType.ValueNotSupported": (400, "The specified NicType does not exist."),
    # 403 variant: DestGroupId without DestCidrIp needs NicType intranet.
    "InvalidDestGroupId.Mismatch": (403, "NicType is required or NicType expects intranet."),
    # Doc lists InvalidSecurityGroup.IsSame and InvalidParamter.Conflict (403) for DestGroupId equal to
    # SecurityGroupId; IsSame says exactly that.
    "InvalidSecurityGroup.IsSame": (403, "The authorized SecurityGroupId should be different from the DestGroupId."),
    # The API's own spelling ("Paramter").
    "InvalidParamter.Conflict": (400, "The specified SourceCidrIp should be different from the DestCidrIp."),
    "InvalidSecurityGroupDiscription.Malformed": (
        400, "The specified security group rule description is not valid."),
    # The catch-all of this API; used for combinations the doc forbids without a code of their own
    # (owner account without DestGroupId, a malformed ClientToken, a by-match change with no Description).
    "InvalidParam.InvalidModifyRuleRequest": (400, "The request parameters are illegal."),
    # --- stateful codes (need the live rule) ---
    "InvalidOperation.ModifySgRuleEntityType": (
        400, "The source or destination type of the rules cannot be modified."),
    "InvalidParam.PrefixListAddressFamilyMismatch": (
        400, "The address family of the prefix list does not match the rule."),
    "InvalidOperation.ModifyNicType": (400, "NicType is not allowed to modify."),
    "InvalidNicType.Mismatch": (400, "The specified NicType conflicts with the authorization record."),
    "InvalidDestGroupId.Mismatch.Vpc": (400, "Specified security group and destination group are not in the same VPC."),
    "InvalidDestGroup.NotFound": (400, "Specified destination security group does not exist."),
    "InvalidPrefixListId.NotFound": (400, "The specified prefix list was not found."),
    "AuthorizationLimitExceed": (400, "The limit of authorization records in the security group reaches."),
    "InvalidSecurityGroupId.NotFound": (404, "The specified SecurityGroupId does not exist."),
    "InvalidDestGroupId.NotFound": (404, "The DestGroupId provided does not exist in our records."),
    "SecurityGroupRule.NotFound": (
        404, "The target security group rule do not exist or the parameter Priority mismatch."),
    "IdempotentParameterMismatch": (
        400, "The same idempotency key was used with different parameters."),
    "InternalError": (500, "The request processing has failed due to some unknown error."),
    # --- ours: the event envelope, the policy guard, the runtime ---
    "InvalidEvent.Malformed": (400, "The rule-change event is not a valid CloudEvents JSON object."),
    "InvalidEvent.MissingAttribute": (400, "A required CloudEvents attribute is missing."),
    "InvalidEvent.InvalidAttribute": (400, "A CloudEvents attribute has an invalid value."),
    "InvalidEvent.UnknownField": (400, "The event has a field sgrule does not know (a typo?)."),
    "Forbidden.SecurityGroupNotAllowed": (
        403, "The region or security group is outside the configured allow-list."),
    # The security team's guardrails (README, Guardrails): a guardrail denies the change, or the configured
    # policy cannot be loaded (every change is rejected until it is fixed).
    "Forbidden.Guardrail": (403, "A guardrail of the security team's policy denies this change."),
    "Forbidden.GuardrailPolicyInvalid": (
        403, "The guardrails policy cannot be loaded: every change is rejected until it is fixed."),
    "DuplicateRule": (400, "The modified rule would be the same as another existing rule."),
    # ECS answered the change's ClientToken with an earlier request's result and changed nothing now (the
    # token was used before, by a request whose record sgrule no longer keeps): `after` is the rule as read.
    "ClientToken.Replayed": (409, "ECS answered this change's ClientToken with an earlier request's result "
                                  "and did not apply it now; the rule is not what the change asked for."),
    "Runtime.RetriesExhausted": (503, "The change kept failing transiently and was given up."),
    "Runtime.Unexpected": (500, "An unexpected error occurred while processing the change."),
}

# Stateful codes whose key above needs a suffix to stay unique map back to the API's code here.
_API_CODE = {"InvalidDestGroupId.Mismatch.Vpc": "InvalidDestGroupId.Mismatch"}


class SgruleError(Exception):
    """A failure with the API's code, a message, the offending field and the HTTP status."""

    __slots__ = ("code", "message", "field", "http_status", "source")

    def __init__(self, code: str, message: str | None = None, *, field: str | None = None,
                 http_status: int | None = None, source: ErrorSource = "validation") -> None:
        status, default = CODES.get(code, (400, code))
        # Messages and fields may quote what a sender wrote: kept encodable and short (see .safe).
        self.code = _API_CODE.get(code, code) if code in CODES else text(code, 128)
        self.message = text(message or default, 1024)
        self.field = text(field, 256) if field is not None else None
        self.http_status = http_status or status
        self.source: ErrorSource = source
        super().__init__(f"{self.code}: {self.message}" + (f" ({field})" if field else ""))

    def to_dict(self) -> dict[str, Any]:
        """The shape `sgrule validate` prints."""
        return {"code": self.code, "message": self.message, "field": self.field}

    def to_outcome(self) -> dict[str, Any]:
        """The shape an outcome event's ``data.error`` carries."""
        return {"code": self.code, "message": self.message, "httpStatus": self.http_status,
                "source": self.source}
