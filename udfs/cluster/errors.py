"""The one error type of the cluster driver: its message is what the command line prints."""


class ClusterError(Exception):
    pass
