"""The ECS errors localcloud returns, and THE table of which documented code each mistake produces.

The ModifySecurityGroupEgressRule doc often lists several codes for one mistake (legacy and current
names). ``ERRORS`` is the single place where one code per mistake is chosen; the comment on each row
says why, and which documented alternatives are deliberately never produced. ``CODES.md`` carries the
same decisions in prose for readers who don't read Python.
"""
from __future__ import annotations

from typing import NoReturn

from localcloud.base import ApiError


class EcsError(ApiError):
    """An ECS error: same wire shape as every other ApiError; subclass only to make ECS errors greppable."""


# mistake key -> (HTTP status, code, message). Messages are the doc's, with %s filled by the caller.
ERRORS: dict[str, tuple[int, str, str]] = {
    # --- framework-level (not in the Modify doc's table; POP gateway behaviour) ---------------------
    "missing_param": (400, "MissingParameter",
                      'The input parameter "{name}" that is mandatory for processing this request is not supplied.'),
    "unknown_action": (400, "InvalidAction.NotFound",
                       "Specified api is not found, please check your url and method."),
    "client_token_malformed": (400, "InvalidClientToken.Malformed",
                               "The specified parameter ClientToken is not valid: printable ASCII only, at most 64 "
                               "characters."),
    # The Modify doc lists no ClientToken code: for that action a bad token is its catch-all.
    "modify_client_token": (400, "InvalidParam.InvalidModifyRuleRequest",
                            "The request parameters are illegal: ClientToken must be 1 to 64 printable ASCII "
                            "characters."),
    "idempotent_mismatch": (400, "IdempotentParameterMismatch",
                            "The request uses the same client token as a previous, but non-identical request."),

    # --- protocol / ports ----------------------------------------------------------------------------
    # Missing or unknown protocol. The doc has two rows for this code (one says "should not be null"),
    # and OperationDenied ("IpProtocol does not exist or ...") is the legacy catch-all -> never produced.
    "protocol_invalid": (400, "InvalidIpProtocol.ValueNotSupported",
                         "The parameter IpProtocol must be specified with case insensitive TCP, UDP, ICMP, GRE or All."),
    # PortRange missing / not "a/b" / outside 1-65535 / a > b. InvalidIpProtocol.Malformed carries the same
    # message ("PortRange is not valid") but is named after the protocol -> never produced.
    "port_range_invalid": (400, "InvalidParam.PortRange",
                           "The specified param PortRange or SourcePortRange is not valid. should be integer and "
                           "less than 65535, range separator is '/'."),
    # SourcePortRange syntax: the code that names the parameter itself.
    "source_port_range_invalid": (400, "InvalidSourcePortRange.Malformed",
                                  "The specified parameter SourcePortRange is not valid."),
    # TCP/UDP with -1/-1, or ICMP/GRE/ALL/ICMPv6 with anything but -1/-1 (either port range).
    "protocol_port_mismatch": (400, "InvalidParam.ProtocolAndPortRangeMismatch",
                               "The specified Protocol and PortRange do not match."),

    # --- policy / priority / nic type / description -----------------------------------------------------
    "policy_invalid": (400, "InvalidPolicy.Malformed", "The specified parameter Policy is not valid."),
    # Not an integer at all -> Malformed; an integer outside 1-100 -> ValueNotSupported (two doc rows,
    # same code, either message fits; we use the "Priority is invalid" one).
    "priority_malformed": (400, "InvalidPriority.Malformed", "The specified parameter Priority is not valid."),
    "priority_range": (400, "InvalidPriority.ValueNotSupported", "The specified Priority is invalid."),
    "nic_type_invalid": (400, "InvalidNicType.ValueNotSupported", "The specified NicType is not valid."),
    "description_invalid": (400, "InvalidSecurityGroupDiscription.Malformed",
                            "The specified security group rule description is not valid."),
    # DestGroupOwnerId is a long (the doc's type); anything else is this API's catch-all.
    "owner_id_invalid": (400, "InvalidParam.InvalidModifyRuleRequest",
                         "The request parameters are illegal: DestGroupOwnerId must be an account id (a long)."),

    # --- addresses ---------------------------------------------------------------------------------------
    # DestCidrIp: the doc has InvalidDestCidrIp.Malformed and InvalidParam.DestCidrIp for the same mistake;
    # InvalidParam.<Param> is the one family the doc gives all four address parameters (SourceCidrIp and the
    # two IPv6 ones have no other), so DestCidrIp reads like them -> InvalidDestCidrIp.Malformed is never
    # produced.
    "dest_cidr_invalid": (400, "InvalidParam.DestCidrIp", "The specified param DestCidrIp is not valid."),
    "source_cidr_invalid": (400, "InvalidParam.SourceCidrIp", "The specified param SourceCidrIp is not valid."),
    # The per-parameter IPv6 codes beat the generic InvalidParameter.Ipv6CidrIp (never produced).
    "ipv6_dest_invalid": (400, "InvalidParam.Ipv6DestCidrIp", "The specified parameter Ipv6DestCidrIp is not valid."),
    "ipv6_source_invalid": (400, "InvalidParam.Ipv6SourceCidrIp",
                            "The specified parameter Ipv6SourceCidrIp is not valid."),
    "dest_both_families": (400, "InvalidParam.DestIp",
                           "The Parameters DestCidrIp and Ipv6DestCidrIp in {where} cannot be set at the same time."),
    "source_both_families": (400, "InvalidParam.SourceIp",
                             "The Parameters SourceCidrIp and Ipv6SourceCidrIp in {where} cannot be set at the same time."),
    # IPv4 on one side, IPv6 on the other.
    "family_mix": (400, "InvalidParameter.Conflict", "IPv6 and IPv4 addresses cannot exist at the same time."),
    "icmp_with_ipv6": (400, "InvalidParam.Ipv4ProtocolConflictWithIpv6Address",
                       "IPv6 address cannot be specified for IPv4-specific protocol."),
    "icmpv6_with_ipv4": (400, "InvalidParam.Ipv6ProtocolConflictWithIpv4Address",
                         "IPv4 address cannot be specified for IPv6-specific protocol."),
    # ICMP with an IPv6 prefix list / ICMPv6 with an IPv4 prefix list: no address to name, only a family.
    "protocol_family_mismatch": (400, "InvalidParam.ProtocolAndAddressFamilyMismatch",
                                 "The specified Protocol and address family do not match."),
    "source_equals_dest": (400, "InvalidParamter.Conflict",  # sic: the API's spelling
                           "The specified SourceCidrIp should be different from the DestCidrIp."),

    # --- destination ---------------------------------------------------------------------------------------
    # No destination at all. The 403 MissingParameter row ("DestGroupId or DestCidrIp cannot be both blank")
    # is the older, less specific name for the same mistake -> never produced.
    "dest_missing": (400, "MissingParameter.Dest",
                     "One of the parameters DestCidrIp, DestGroupId or DestPrefixListId must be specified."),
    # DestGroupId == SecurityGroupId. The 403 InvalidParamter.Conflict row talks about SourceGroupId (the
    # ingress wording) -> never produced.
    "dest_group_is_same": (403, "InvalidSecurityGroup.IsSame",
                           "The authorized SecurityGroupId should be different from the DestGroupId."),
    "dest_group_needs_intranet": (403, "InvalidDestGroupId.Mismatch",
                                  "NicType is required or NicType expects intranet."),
    # Dest group unknown: the 404 row beats the 400 InvalidDestGroup.NotFound (never produced): a missing
    # resource is a 404 everywhere else in this API, and the 404 row is the newer one (2023 changeset).
    "dest_group_not_found": (404, "InvalidDestGroupId.NotFound", "The DestGroupId provided does not exist in our records."),
    "dest_group_other_vpc": (400, "InvalidDestGroupId.Mismatch",
                             "Specified security group and destination group are not in the same VPC."),
    "dest_group_network_type": (403, "InvalidNetworkType.Conflict",
                                "The specified SecurityGroup network type should be same with SourceGroup network "
                                "type (vpc or classic)."),
    "prefix_list_not_found": (400, "InvalidPrefixListId.NotFound", "The specified prefix list was not found."),
    "prefix_list_family": (400, "InvalidParam.PrefixListAddressFamilyMismatch",
                           "The address family of the prefix list does not match the rule."),

    # --- resources -------------------------------------------------------------------------------------------
    "group_not_found": (404, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId does not exist."),
    "rule_not_found": (404, "SecurityGroupRule.NotFound",
                       "The target security group rule do not exist or the parameter Priority mismatch."),
    # Quota: the doc lists it as 400 and 403; 403 is how ECS reports quota exhaustion elsewhere.
    "rule_limit": (403, "AuthorizationLimitExceed", "The limit of authorization records in the security group reaches."),

    # --- modify by rule id ---------------------------------------------------------------------------------
    "modify_nic_type": (400, "InvalidOperation.ModifyNicType", "NicType is not allowed to modify."),
    "modify_entity_type": (400, "InvalidOperation.ModifySgRuleEntityType",
                           "The source or destination type of the rules cannot be modified."),
    # Clearing a non-empty field, changing the IP family of a CIDR, and producing a duplicate of another rule
    # are the doc's prose limits without a dedicated code: the generic modify code, distinct messages.
    "modify_clear": (400, "InvalidParam.InvalidModifyRuleRequest",
                     "The request parameters are illegal: the value of non-empty parameter {name} cannot be deleted."),
    "modify_family": (400, "InvalidParam.InvalidModifyRuleRequest",
                      "The request parameters are illegal: the IP address family of {name} cannot be changed."),
    "modify_duplicate": (400, "InvalidParam.InvalidModifyRuleRequest",
                         "The request parameters are illegal: the modified rule is the same as an existing rule "
                         "{other}."),

    # --- other actions (codes from their own docs / ECS conventions) ----------------------------------------
    "vpc_not_found": (404, "InvalidVpcId.NotFound", "The specified VpcId does not exist."),
    "group_in_use": (403, "DependencyViolation",
                     "There is still security group rule(s) referencing the specified security group."),
    "direction_invalid": (400, "InvalidDirection.Malformed", "The specified parameter Direction is not valid."),
    "max_results_invalid": (400, "InvalidMaxResults.Malformed", "The specified parameter MaxResults is not valid."),
    "next_token_invalid": (400, "InvalidNextToken.Malformed", "The specified parameter NextToken is not valid."),
    "page_invalid": (400, "InvalidParameter", "The specified parameter {name} is not valid."),
    "security_group_ids_invalid": (400, "InvalidSecurityGroupIds.Malformed",
                                   "The specified parameter SecurityGroupIds is not valid."),
    "address_family_invalid": (400, "InvalidAddressFamily.Malformed",
                               "The specified parameter AddressFamily is not valid."),
    "max_entries_invalid": (400, "InvalidMaxEntries.Malformed", "The specified parameter MaxEntries is not valid."),
    "entry_invalid": (400, "InvalidEntry.Cidr", "The specified parameter Entry.N.Cidr is not valid: {cidr}."),
    "entry_family": (400, "InvalidParam.EntryAddressFamilyMismatch",
                     "The address family of Entry.N.Cidr {cidr} does not match AddressFamily."),
    "entries_exceed": (400, "InvalidParam.EntriesExceedMaxEntries",
                       "The number of entries exceeds MaxEntries."),
    "prefix_list_name_invalid": (400, "InvalidPrefixListName.Malformed",
                                 "The specified parameter PrefixListName is not valid."),
}


def fail(key: str, **fmt: object) -> NoReturn:
    """Raise the error chosen for mistake ``key`` (see ERRORS)."""
    status, code, message = ERRORS[key]
    raise EcsError(status, code, message.format(**fmt) if fmt else message)
