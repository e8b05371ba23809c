"""What can go wrong between the ledger and its warehouse (chDB or a ClickHouse server).

Each error says what went wrong, with what input, and what to do about it. A warehouse URL
never appears with its password: use ``redact_url`` before putting one in a message.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from schemas.errors import Fatal, InvalidInput, LedgerError, Unavailable


class AnalyticsError(LedgerError):
    """Root of every error raised by the analytics package (the tree: schemas/errors.py)."""


class WarehouseUnavailable(AnalyticsError, Unavailable):
    """The warehouse could not be opened or reached."""

    def __init__(self, where: str, cause: BaseException | str) -> None:
        self.where = where
        super().__init__(
            f"cannot open the warehouse at {where}: {cause}. "
            "Check that the server is up and the URL (LEDGER_CLICKHOUSE_URL) or chDB path is right; "
            "the sink keeps retrying while the warehouse is down"
        )


class QueryFailed(AnalyticsError, Unavailable):
    """ClickHouse refused or failed a statement; the sink tries it again, a command exits 3."""

    def __init__(self, name: str, cause: BaseException | str) -> None:
        self.name = name
        super().__init__(f"query {name!r} failed: {cause}")


class WarehouseBusy(AnalyticsError, Unavailable):
    """The chDB directory is held by another process that serves no reads (no owner record)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(
            f"the chDB warehouse at {path} is open in another process that does not serve reads ({detail}). "
            "Stop that process, or run the sink (`ledger sink`) or `ledger stack up --warehouse-owner`, "
            "which serve reads to every other process")


class ReadRefused(AnalyticsError, InvalidInput):
    """A query the read-only interface does not run (a write, DDL, a setting, a bad token).

    ``status`` is the HTTP status the owner answers with; ``code`` and ``name`` are ClickHouse's
    (164 READONLY, 516 AUTHENTICATION_FAILED, ...), and ``body`` is the text a ClickHouse server
    sends for the same refusal, so standard clients show it as such.
    """

    def __init__(self, status: int, code: int, name: str, message: str) -> None:
        self.status = status
        self.code = code
        self.name = name
        self.message = message
        super().__init__(f"Code: {code}. DB::Exception: {message}. ({name})")

    @property
    def body(self) -> str:
        return f"{self}\n"


class MigrationError(AnalyticsError, Fatal):
    """A migration could not be applied, or a landed migration was edited: a person must look."""


class UnknownReport(AnalyticsError, InvalidInput):
    """A report name that the registry does not hold."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"no report named {name!r}; known reports: {', '.join(known)}")


class BadReportParameter(AnalyticsError, InvalidInput, ValueError):
    """A report parameter is missing or has the wrong shape."""

    def __init__(self, report: str, parameter: str, problem: str) -> None:
        self.report = report
        self.parameter = parameter
        super().__init__(f"report {report!r}: parameter {parameter!r} {problem}")


class UnknownDeploy(AnalyticsError, InvalidInput):
    """A deploy id no ops event names."""

    def __init__(self, deploy_id: str) -> None:
        self.deploy_id = deploy_id
        super().__init__(f"no deploy {deploy_id!r} in the history; list them with "
                         "`ledger sql \"SELECT deploy_id, build, finished_at FROM deploys\"`")


class DeployWithoutBuild(AnalyticsError, InvalidInput):
    """A deploy whose events name no build, so no session can be told to be on it."""

    def __init__(self, deploy_id: str) -> None:
        self.deploy_id = deploy_id
        super().__init__(f"deploy {deploy_id!r} names no build (written with ops_event v1, or the "
                         "deployer left `build` out): its sessions cannot be told from the others")


class BadSloSpec(AnalyticsError, InvalidInput):
    """An SLO file that cannot be used: unreadable, not YAML, or a field missing or wrong."""

    def __init__(self, where: str, field: str, problem: str) -> None:
        self.where = where
        self.field = field
        super().__init__(f"SLO file {where}: {field} {problem}; see docs/metrics.md, \"SLOs\"")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for messages and logs).

    The one place the ledger hides a URL's credentials: the command line and the warehouse
    both use it (``streams.logs`` hides known secrets in log records by value)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
