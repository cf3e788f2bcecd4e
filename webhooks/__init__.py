"""Callback endpoints the services call when a job ends (``POST /webhooks/...``)."""
