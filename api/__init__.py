"""The HTTP API (Falcon): leads, Customize, status, health, and the dashboard page."""
