"""``python -m devtools`` is ``python -m devtools.servers``."""

from devtools.servers.cli import main

raise SystemExit(main())
