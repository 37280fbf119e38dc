"""The localcloud server: one HTTP port for every emulated product and the control API.

``LocalCloud`` (``core``) owns the products and their state; ``http`` is the socket side; ``wire`` and
``dispatch`` define how any request becomes an API call; ``rpc`` is the RPC wire style (ECS, EventBridge).
"""
from localcloud.server.core import LocalCloud, build_services
from localcloud.server.wire import SERVICE_NAMES

__all__ = ["LocalCloud", "SERVICE_NAMES", "build_services"]
