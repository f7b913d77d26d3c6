"""Ray glue: connect to a cluster, deploy the fleet, submit workflow runs as Ray Jobs."""
