"""Reads served by the process that owns the embedded warehouse.

chDB lets one process open a data directory. That process (the sink, ``ledger worker
--with-sink``, or a standalone owner started by ``ledger stack up --warehouse-owner``) serves
read-only queries to every other process over ClickHouse's HTTP interface, on 127.0.0.1, behind
the API token, and says where it listens in ``<state_dir>/warehouse-owner.json``.

- ``protocol``: pure: what an HTTP request asks for, what is refused, ClickHouse-style errors.
- ``server``: the HTTP server and its pool of read-only chDB connections.
- ``owner``: the owner record, opening a warehouse and serving it, finding the owner.
- ``client``: ``RemoteWarehouse``, the reads of the ``Warehouse`` interface through an owner.

docs/warehouse.md ("Reading while the sink writes") has the design and its measurements.
"""
