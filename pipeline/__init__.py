"""Leadpipe's domain: stages, transitions, named SQL, config and service clients.

Nothing in this package imports dramatiq or falcon; actors and HTTP handlers are thin
callers of the functions here.
"""
