"""Developer tooling: finding or starting the PostgreSQL and Redis servers Leadpipe needs.

Nothing here imports dramatiq or falcon, and ``devtools.servers`` imports psycopg and redis
only when it talks to a server, so ``python3 -m devtools.servers start-system`` runs on a
bare interpreter before the virtualenv exists (that is what ``.ci/run`` does).
"""
