"""The incident review room: the browser UI the worker serves under /ui/ (see docs/ui.md).

- ``history``: where the pages' history comes from (the warehouse's owner or the ClickHouse
  server; the worker never opens chDB itself for them).
- ``live``: what this worker knows now (concurrency, pipeline health), as JSON documents.
- ``views``: the routes: static pages and assets, and their JSON API behind the bearer token.
- ``static/``: the pages, their script and style; the charts come from ``analytics.charts``.
"""
