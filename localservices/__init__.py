"""Local stand-ins for the services Leadpipe talks to, for development, tests and benchmarks.

- ``site``: a website of deterministic sample companies (the thing the scraper crawls);
- ``scraper``: the scraper job API (``POST /jobs``, ``GET /jobs/{id}``), with callbacks;
- ``llm``: the Message Batches API shape (plus an OpenAI-compatible chat endpoint).

Each is a Falcon app built by ``create_app(...)``; ``python -m localservices`` serves one with
gunicorn, and ``localservices.testing.start_service`` starts one as a real process. The scraper
and the LLM can be told to misbehave (latency, failures, 429/5xx, lost, duplicated or early
callbacks) through :mod:`localservices.knobs`, and count what they saw in
:mod:`localservices.stats`.
"""
