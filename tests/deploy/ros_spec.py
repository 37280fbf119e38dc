"""What the ROS developer reference documents for the resource types template.yml uses: property names (with the
nested structures we set), and the attributes ``Fn::GetAtt`` returns.

Source of each entry: the ROS developer reference page named in ``source`` (Alibaba Cloud Help Center,
``https://www.alibabacloud.com/help/en/ros/developer-reference/<page>``), read for this table; where a page
lists a nested structure ("Code syntax", "VpcConfig properties", ...) its names are below it. The property
names agree with the ROS Cloud Development Kit's generated resource classes (``@alicloud/ros-cdk-fc3``,
``-ram``, ``-mns``, ``-eventbridge``, ``-sls``), which render exactly these template names. One exception:
the ``ALIYUN::EventBridge::EventBus`` page was not found; its two names are those of the EventBridge
``CreateEventBus`` API (EventBusName, Description) and its attribute the one ``GetEventBus`` returns.

The ``TriggerConfig`` of ``ALIYUN::FC3::Trigger`` is passed to the Function Compute 3.0 API as it is; its keys
per trigger type (:data:`TRIGGER_CONFIG`) come from the FC 3.0 trigger documentation (``CreateTrigger``,
and the Serverless Devs fc3 component's YAML reference, which spells the same API keys).

Spec notation: ``None`` any value (scalar or free-form map); a ``dict`` a map whose keys must be among its
keys (values: their specs); a one-element ``list`` a list whose items follow that element's spec.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REFERENCE = "https://www.alibabacloud.com/help/en/ros/developer-reference/"


@dataclass(frozen=True)
class ResourceSpec:
    source: str                      # reference page (under REFERENCE)
    properties: dict[str, Any]       # property name -> spec
    attributes: frozenset[str] = field(default_factory=frozenset)  # Fn::GetAtt names
    required: frozenset[str] = field(default_factory=frozenset)


_TRUST_DOCUMENT = {"Version": None, "Statement": [{"Effect": None, "Action": None, "Principal": None,
                                                   "Condition": None}]}
_POLICY_DOCUMENT = {"Version": None, "Statement": [{"Effect": None, "Action": None, "Resource": None,
                                                    "Condition": None}]}
_LIFECYCLE_HOOK = {"Handler": None, "Timeout": None}

RESOURCES: dict[str, ResourceSpec] = {
    "ALIYUN::FC3::Function": ResourceSpec(
        source="aliyun-fc3-function",
        properties={
            "FunctionName": None, "Handler": None, "Runtime": None, "Cpu": None,
            "CustomContainerConfig": None, "CustomRuntimeConfig": None, "CustomDns": None,
            "Code": {"OssBucketName": None, "OssObjectName": None, "ZipFile": None, "SourceCode": None,
                     "Checksum": None},
            "Description": None, "DiskSize": None, "EnvironmentVariables": None, "GpuConfig": None,
            "InstanceLifecycleConfig": {"Initializer": _LIFECYCLE_HOOK, "PreStop": _LIFECYCLE_HOOK},
            "InternetAccess": None, "InstanceConcurrency": None, "Layers": None,
            "LogConfig": {"Project": None, "Logstore": None, "EnableRequestMetrics": None,
                          "EnableInstanceMetrics": None, "LogBeginRule": None},
            "MemorySize": None, "NasConfig": None, "OssMountConfig": None, "Role": None, "TracingConfig": None,
            "Timeout": None,
            "VpcConfig": {"VpcId": None, "VSwitchIds": None, "SecurityGroupId": None},
            "DisableOndemand": None, "SessionAffinityConfig": None, "InstanceIsolationMode": None,
            "SessionAffinity": None, "Tags": None,
        },
        attributes=frozenset({"ARN", "FunctionId", "FunctionName"}),
        required=frozenset({"FunctionName", "Handler", "Runtime"})),
    "ALIYUN::FC3::Trigger": ResourceSpec(
        source="aliyun-fc3-trigger",
        properties={"FunctionName": None, "TriggerType": None, "TriggerName": None, "TriggerConfig": None,
                    "Description": None, "InvocationRole": None, "Qualifier": None, "SourceArn": None},
        attributes=frozenset({"FunctionName", "UrlIntranet", "TriggerName", "TriggerId", "UrlInternet"}),
        required=frozenset({"FunctionName", "TriggerType", "TriggerName", "TriggerConfig"})),
    "ALIYUN::FC3::AsyncInvokeConfig": ResourceSpec(
        source="aliyun-fc3-asyncinvokeconfig",
        properties={"FunctionName": None, "AsyncTask": None,
                    "DestinationConfig": {"OnSuccess": {"Destination": None}, "OnFailure": {"Destination": None}},
                    "MaxAsyncEventAgeInSeconds": None, "MaxAsyncRetryAttempts": None},
        required=frozenset({"FunctionName"})),
    "ALIYUN::RAM::Role": ResourceSpec(
        source="aliyun-ram-role",
        properties={"RoleName": None, "Description": None, "AssumeRolePolicyDocument": _TRUST_DOCUMENT,
                    "MaxSessionDuration": None, "Policies": None, "IgnoreExisting": None, "DeletionForce": None,
                    "PolicyAttachments": None},
        attributes=frozenset({"Arn", "RoleId", "RoleName"}),
        required=frozenset({"RoleName", "AssumeRolePolicyDocument"})),
    "ALIYUN::RAM::ManagedPolicy": ResourceSpec(
        source="aliyun-ram-managedpolicy",
        properties={"PolicyName": None, "Description": None, "Roles": None, "Groups": None, "Users": None,
                    "PolicyDocument": _POLICY_DOCUMENT, "PolicyDocumentUnchecked": None, "IgnoreExisting": None},
        attributes=frozenset({"PolicyName"}),
        required=frozenset({"PolicyName"})),
    "ALIYUN::MNS::Queue": ResourceSpec(
        source="aliyun-mns-queue",
        properties={"QueueName": None, "DelaySeconds": None, "MaximumMessageSize": None,
                    "MessageRetentionPeriod": None, "VisibilityTimeout": None, "PollingWaitSeconds": None,
                    "LoggingEnabled": None, "DlqPolicy": None, "Tags": None},
        attributes=frozenset({"QueueUrl", "ARN.WithSlash", "QueueName"}),
        required=frozenset({"QueueName"})),
    "ALIYUN::EventBridge::EventBus": ResourceSpec(
        source="(page not found: EventBridge CreateEventBus API)",
        properties={"EventBusName": None, "Description": None},
        attributes=frozenset({"EventBusName"}),
        required=frozenset({"EventBusName"})),
    "ALIYUN::EventBridge::Rule": ResourceSpec(
        source="aliyun-eventbridge-rule",
        properties={"EventBusName": None, "RuleName": None, "FilterPattern": None, "Description": None,
                    "Status": None,
                    "Targets": [{"Id": None, "Type": None, "Endpoint": None, "PushRetryStrategy": None,
                                 "ParamList": [{"ResourceKey": None, "Form": None, "Value": None,
                                                "Template": None}],
                                 "DeadLetterQueue": None, "ConcurrentConfig": None, "ErrorsTolerance": None}]},
        attributes=frozenset({"EventBusName", "RuleARN", "RuleName"}),
        required=frozenset({"EventBusName", "RuleName", "FilterPattern", "Targets"})),
    "ALIYUN::SLS::Project": ResourceSpec(
        source="aliyun-sls-project",
        properties={"Name": None, "Description": None, "Tags": None, "ResourceGroupId": None,
                    "DataRedundancyType": None},
        attributes=frozenset({"Name"}),
        required=frozenset({"Name"})),
    "ALIYUN::SLS::Logstore": ResourceSpec(
        source="aliyun-sls-logstore",
        properties={"ProjectName": None, "LogstoreName": None, "ShardCount": None, "AutoSplit": None,
                    "MaxSplitShard": None, "AppendMeta": None, "TTL": None, "EnableTracking": None,
                    "PreserveStorage": None, "EncryptConf": None, "Mode": None},
        attributes=frozenset({"LogstoreName", "ProjectName"}),
        required=frozenset({"ProjectName", "LogstoreName"})),
}

# Function Compute 3.0 trigger configurations (camelCase, as the FC API takes them), per TriggerType.
_EB_PARAMS = {"sourceMNSParameters": {"QueueName": None, "IsBase64Decode": None, "RegionId": None}}
TRIGGER_CONFIG: dict[str, dict[str, Any]] = {
    "http": {"authType": None, "methods": None, "disableURLInternet": None, "authConfig": None},
    "timer": {"cronExpression": None, "enable": None, "payload": None},
    "eventbridge": {
        "triggerEnable": None, "asyncInvocationType": None, "eventRuleFilterPattern": None,
        "eventSourceConfig": {"eventSourceType": None, "eventSourceParameters": _EB_PARAMS},
        "eventSinkConfig": {"deliveryOption": {"mode": None, "eventSchema": None, "concurrency": None}},
        "runOptions": {"mode": None, "maximumTasks": None, "errorsTolerance": None,
                       "batchWindow": {"CountBasedWindow": None, "TimeBasedWindow": None},
                       "retryStrategy": {"PushRetryStrategy": None, "MaximumEventAgeInSeconds": None,
                                         "MaximumRetryAttempts": None},
                       "deadLetterQueue": {"Arn": None}},
    },
}

# Template sections, parameter fields and types, pseudo parameters and functions (ROS template structure).
SECTIONS = frozenset({"ROSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings",
                      "Conditions", "Resources", "Outputs", "Rules", "Locals", "Transform"})
PARAMETER_FIELDS = frozenset({"Type", "Default", "NoEcho", "Description", "AllowedValues", "AllowedPattern",
                              "MinLength", "MaxLength", "MinValue", "MaxValue", "ConstraintDescription", "Label",
                              "AssociationProperty", "AssociationPropertyMetadata", "Confirm", "TextArea"})
PARAMETER_TYPES = frozenset({"String", "Number", "CommaDelimitedList", "Json", "Boolean"})
RESOURCE_FIELDS = frozenset({"Type", "Properties", "DependsOn", "Condition", "DeletionPolicy", "Metadata"})
PSEUDO_PARAMETERS = frozenset({"ALIYUN::Region", "ALIYUN::AccountId", "ALIYUN::StackId", "ALIYUN::StackName",
                               "ALIYUN::NoValue", "ALIYUN::TenantId", "ALIYUN::Index"})
FUNCTIONS = frozenset({"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::If",
                       "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::FindInMap", "Fn::Replace",
                       "Fn::Base64Encode", "Fn::Base64Decode", "Fn::GetAZs", "Fn::Length", "Fn::Str"})
