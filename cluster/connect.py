"""`cluster.connect`: the connection code lives in `agents.connect`.

Agents connect to Ray lazily, and `agents` sits below `cluster` (see the README's Layout),
so the code that joins or starts Ray is in the lower package; this name stays for callers
that import it from here.
"""

from agents.connect import (
    DEFAULT_NAMESPACE,
    ClusterConnectError,
    ClusterInfo,
    cluster_info,
    connect,
    current_cluster_file,
    disconnect,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "ClusterConnectError",
    "ClusterInfo",
    "cluster_info",
    "connect",
    "current_cluster_file",
    "disconnect",
]
