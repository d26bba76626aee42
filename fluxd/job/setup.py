# -*- test-case-name: tests.integration.test_jobs_restart -*-
"""Build the job services of rank 0, for :mod:`fluxd.broker`.

In start order: the job manager (it rebuilds its jobs from the KVS before
anything can submit or schedule), then job-ingest.  The job manager takes
over the broker's safe mode: after an unclean stop submission is disabled
and scheduling stopped until the owner re-enables them.
"""

from twisted.internet import threads

from fluxd.job.ingest import IngestService
from fluxd.job.manager import JobManagerService
from fluxd.security.sign import load_sign_config, security_confdir

__all__ = ["build_job_modules", "BATCH_INTERVAL"]

#: the job manager's KVS batcher, under load: commits 20 ms apart at the
#: soonest.  flux's job manager batches for 10 ms, but a commit costs rank
#: 0 about 2.6 ms of CPU here (its sqlite write, fsync and zlib included,
#: and the large job-id directories it re-encodes): 10 ms apart, commits
#: alone took a quarter of a core.  20 ms halves the commits a real job
#: and cuts rank 0's CPU a job by about a fifth on one broker
#: (bench/throughput.py); a lone job's commits still do not wait
#: (:attr:`~fluxd.job.kvsbatch.KVSBatcher.busy_ops`).
BATCH_INTERVAL = 0.02


def build_job_modules(reactor, router, kvs, events, config, safe_mode=None,
                      expiration=None, signing=None):
    """The job services, in start order (rank 0 only).

    :param kvs: the broker's :class:`~fluxd.interfaces.IKVS`.
    :param events: the broker's :class:`~fluxd.interfaces.IEvents`.
    :param safe_mode: the broker's :class:`fluxd.admin.startlog.SafeMode`.
    :param expiration: returns the instance's expiration (0: none), for
        the job manager's ``.validate-duration`` plugin.
    :param signing: the :class:`fluxd.security.sign.SignConfig` job-ingest
        checks J with; None: read from :func:`security_confdir` (flux's
        single-user ``none`` when that directory does not exist), and
        read again on each config reload (SIGHUP).
    :returns: a list of modules.
    :raises SignError: when the security config is invalid.
    """
    manager = JobManagerService(reactor, router, kvs, events, config,
                                safe_mode=safe_mode, expiration=expiration)
    manager.batcher.interval = BATCH_INTERVAL
    if signing is None:
        def load_signing():
            return load_sign_config(security_confdir())
        signing = load_signing()
    else:
        load_signing = None
    ingest = IngestService(
        manager, wallclock=reactor.seconds, config=config, router=router,
        signing=signing, load_signing=load_signing,
        blocking=lambda fn, *args: threads.deferToThreadPool(
            reactor, reactor.getThreadPool(), fn, *args))
    return [manager, ingest]
