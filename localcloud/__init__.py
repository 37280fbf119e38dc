"""localcloud: a local emulator of the Alibaba Cloud APIs sgrule touches: ECS (the security-group subset),
EventBridge, MNS queues and Function Compute 3.0 (functions, triggers, rules from a ROS template), plus a local
Jira for the ticket notifier.

The official SDK clients talk to it over real HTTP. It is an independent implementation of the documented
server behaviour and never imports sgrule's validators. Never deployed.
"""
