"""The ``leadpipe`` command line: ``db init``, ``status`` and the ``dev`` demo.

``cli.main`` parses arguments and dispatches; each command lives in its own module and
reports failures by raising :class:`cli.errors.CliError`, which ``main`` prints as one line.
"""
