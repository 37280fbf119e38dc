"""A local Jira Cloud: the slice of its REST API v3 that sgrule's notify function calls -- adding a comment
to an issue and listing an issue's comments -- with basic auth (email + API token), Atlassian Document
Format bodies, Jira's error shapes, and fault injection (5xx/429 with Retry-After, or a lost reply after the
comment was made). An independent implementation of documented server behaviour: it never imports sgrule.

    with LocalJira(users={"bot@example.com": "api-token"}, issues=["SEC-1042"]) as jira:
        jira.url  # http://127.0.0.1:PORT
        jira.comments("SEC-1042")

``python -m localcloud.jira --port 0 --user bot@example.com:token --issue SEC-1042`` runs it alone.
"""
from localcloud.jira.server import LocalJira

__all__ = ["LocalJira"]
