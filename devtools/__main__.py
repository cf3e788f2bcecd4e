"""``python -m devtools`` is ``python -m devtools.servers``."""

from devtools.servers import main

raise SystemExit(main())
