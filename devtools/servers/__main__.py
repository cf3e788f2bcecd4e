"""``python -m devtools.servers``: see ``devtools/servers/cli.py``."""

from devtools.servers.cli import main

raise SystemExit(main())
