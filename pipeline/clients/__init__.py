"""HTTP clients for the services, speaking the real services' APIs (see DESIGN.md)."""
