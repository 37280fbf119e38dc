"""localcloud's MNS (Simple Message Queue) data plane: queues and messages, XML over REST.

``models`` holds the state (:class:`MnsBackend`), which in-process parts of localcloud (FC triggers and
destinations) use directly; ``responses`` is the wire side the official ``aliyun-mns-sdk`` talks to.
"""
