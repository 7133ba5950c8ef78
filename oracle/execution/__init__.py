"""Supervised execution: implementations are imported and judged only in worker processes.

    supervisor.py   plans, hands out jobs, watches them, keeps the journal
    watch.py        reads a running job's heartbeat; the verdict, with evidence, of a job that did not end by itself
    worker.py       runs in the workers: imports targets, judges jobs, reports the case being judged
    pool.py         the executors: pebble worker processes, a dask cluster, or this process (-n 0)
    journal.py      one JSON line per verdict, durable as soon as it is known
"""
