"""Ray glue: connect to a cluster, run heavy steps as Ray tasks, submit workflow runs as Ray Jobs."""

from cluster.auth import AuthToken, MissingTokenError, find_auth_token
from cluster.connect import ClusterConnectError, ClusterInfo, cluster_info, connect, disconnect
from cluster.executor import RayTaskExecutor, RayTaskOptions, ray_task
from cluster.jobs import JobError, JobInfo, JobResult, RunResult, SubmitOptions, submit

__all__ = [
    "AuthToken",
    "ClusterConnectError",
    "ClusterInfo",
    "JobError",
    "JobInfo",
    "JobResult",
    "MissingTokenError",
    "RayTaskExecutor",
    "RayTaskOptions",
    "RunResult",
    "SubmitOptions",
    "cluster_info",
    "connect",
    "disconnect",
    "find_auth_token",
    "ray_task",
    "submit",
]
