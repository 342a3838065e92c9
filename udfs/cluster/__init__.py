"""Run the jobs on a local standalone Flink session cluster, "like production".

The apache-flink wheel ships a complete Flink distribution (``FLINK_HOME`` = the installed
``pyflink`` folder). This package drives it without ever editing the wheel's files::

    python -m udfs.cluster start --taskmanagers 2 --slots 2   # JobManager + 2 TaskManagers, REST :8081
    python -m udfs.cluster start --ha            # + ZooKeeper and a standby JobManager (REST :8082)
    python -m udfs.cluster status                # REST /overview and the jobs, as JSON
    python -m udfs.cluster submit -- -i sql/10_images.sql -i sql/20_functions.sql -i sql/29_sinks.sql -f sql/30_classify.sql
    python -m udfs.cluster submit --job my_job.py -- --my-arg 1
    python -m udfs.cluster stop-job <job id> --savepoint-dir /data/savepoints   # prints the savepoint
    python -m udfs.cluster submit -p 4 --from-savepoint <savepoint> -- ...       # resume, rescaled
    python -m udfs.cluster add-taskmanager       # one more TaskManager (or a replacement)
    python -m udfs.cluster add-jobmanager        # a new standby JobManager after a failover (--ha)
    python -m udfs.cluster prometheus-config     # prometheus.yml scraping every Flink process
    python -m udfs.cluster pack                  # venv archive for python.archives (-pyarch/-pyexec)
    python -m udfs.cluster stop

Modules, one job each: ``conf`` (the merged Flink configuration and its conf dir),
``standalone`` (start, add, wait for and stop the daemons: :class:`Cluster`), ``zookeeper`` (the
ZooKeeper of a high-availability cluster), ``processes``
(finding a cluster's processes), ``rest`` (Flink's REST API), ``submit`` (the ``flink run``
command line), ``pack`` (the venv archive), ``prometheus`` (the scrape configuration) and
``__main__`` (the command line).
"""

from udfs.cluster.errors import ClusterError
from udfs.cluster.pack import pack, pack_arguments
from udfs.cluster.standalone import DEFAULT_WORK_DIR, Cluster

__all__ = ["Cluster", "ClusterError", "DEFAULT_WORK_DIR", "pack", "pack_arguments"]
