"""sgrule: change Alibaba Cloud security-group egress rules from events.

Kept import-free on purpose: the functions import only the submodules they need (cold start).
"""
__version__ = "0.1.0"
