"""Background jobs: what runs, when, and the worker that runs them exactly once.

- `registry`: each job as a plain function over a database session, calling the services.
- `runner`: runs one job now, recording a JobRun (the CLI, the worker and tests share it).
- `context`: the app the scheduled runs use and their outage notice, set by the worker and
  read by the runner, so that neither imports the other for it.
- `worker`: APScheduler with its job store in our database, behind a PostgreSQL advisory lock
  so that only one worker is active however many are started.
"""
