"""Ray glue: connect to a cluster, run heavy steps as Ray tasks, submit workflow runs as Ray Jobs."""

from cluster.auth import AuthToken, MissingTokenError, find_auth_token
from cluster.connect import ClusterConnectError, ClusterInfo, cluster_info, connect, disconnect

__all__ = [
    "AuthToken",
    "ClusterConnectError",
    "ClusterInfo",
    "MissingTokenError",
    "cluster_info",
    "connect",
    "disconnect",
    "find_auth_token",
]
