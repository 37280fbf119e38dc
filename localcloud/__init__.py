"""localcloud: a local emulator of the Alibaba Cloud APIs sgrule touches (ECS subset, EventBridge).

The official SDK clients talk to it over real HTTP. It is an independent implementation of the documented
server behaviour and never imports sgrule's validators. Never deployed.
"""
