"""The local Kafka stack: a real Apache Kafka in KRaft mode, run from the official jars.

One node by default (``LocalBroker``); ``LocalCluster`` runs three (or N) of them as one
cluster, each node a combined broker and controller with its own directories and ports.

Maven resolves the jars from Maven Central once (ledger/pom.xml) into a cache under the
state directory; the storage directory is formatted on first start; the broker runs as a
background JVM whose pid, logs and data live under `<state_dir>/kafka`. Everything here listens
on 127.0.0.1 only.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from ledger.procfs import alive
from streams.errors import StackError

_BROKER_MAIN = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"
_MIN_JAVA = 17


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how one local broker runs; a test can build one with free ports and a temp dir."""

    home: Path
    jars_cache: Path
    version: str
    port: int
    controller_port: int
    heap: str = "512m"
    start_timeout_s: float = 60.0
    maven_repo: Path | None = None
    extra_properties: tuple[tuple[str, str], ...] = ()
    node_id: int = 1
    voters: tuple[tuple[int, int], ...] = ()
    """(node id, controller port) of every controller of the quorum; empty: this node alone."""
    cluster_id: str | None = None
    """The KRaft cluster id storage is formatted with; every node of a cluster shares one."""
    separate_metadata_dir: bool = False
    """Keep the metadata log apart from the partition data (``metadata/`` beside ``data/``), so
    losing the data directory leaves the node's place in the controller quorum intact."""
    sasl_port: int | None = None
    """A second client listener requiring SASL/SCRAM (SASL_PLAINTEXT), for clients with credentials."""
    scram_users: tuple[tuple[str, str], ...] = ()
    """(user, password) pairs created with SCRAM-SHA-256 and -512 credentials when storage is formatted."""
    retention_ms: int = 7 * 24 * 3600 * 1000
    """The broker's default retention (``log.retention.ms``), for topics that set none of their own;
    the ledger's topics set theirs (streams/kafka/topics.py)."""
    retention_check_interval_ms: int = 300_000
    """How often the broker looks for segments past their retention (``log.retention.check.interval.ms``)."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str | None:
        return f"127.0.0.1:{self.sasl_port}" if self.sasl_port else None

    @property
    def jars_dir(self) -> Path:
        return self.jars_cache / f"kafka-{self.version}" / "libs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def metadata_dir(self) -> Path:
        return self.home / "metadata" if self.separate_metadata_dir else self.data_dir

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.json"


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    reachable: bool
    bootstrap: str
    pid: int | None
    since: datetime | None
    version: str
    home: Path

    def as_dict(self) -> dict:
        return {
            "running": self.running,
            "reachable": self.reachable,
            "bootstrap": self.bootstrap,
            "pid": self.pid,
            "since": self.since.isoformat() if self.since else None,
            "version": self.version,
            "home": str(self.home),
        }


def config_from_settings(settings) -> BrokerConfig:
    return BrokerConfig(
        home=settings.kafka_dir,
        jars_cache=settings.cache_dir,
        version=settings.kafka_version,
        port=settings.broker_port,
        controller_port=settings.controller_port,
        heap=settings.broker_heap,
        start_timeout_s=settings.broker_start_timeout_s,
        maven_repo=settings.maven_repo,
        retention_ms=settings.session_retention_ms,
        retention_check_interval_ms=settings.broker_retention_check_interval_ms,
    )


class LocalBroker:
    """Start, stop and inspect one local broker. Idempotent: `up` on a running broker does nothing."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self, on_step=lambda message: None) -> BrokerStatus:
        """Bring the broker up (resolving jars and formatting storage on first use) and wait for it."""
        current = self.status()
        if current.running:
            if not current.reachable:
                self._wait_ready(current.pid)
            return self.status()
        java = require_java()
        if not self._jars_ready():
            on_step(f"resolving Apache Kafka {self.config.version} jars from Maven Central (first run only)")
            self.resolve_jars()
        pid = self.launch(java, on_step)
        self._wait_ready(pid)
        return self.status()

    def launch(self, java: str, on_step=lambda message: None) -> int:
        """Write the configs, format what storage lacks, start the JVM; return its pid without
        waiting (a node of a cluster cannot answer before a quorum of its peers runs)."""
        self._write_configs()
        unformatted = [d for d in {self.config.data_dir, self.config.metadata_dir}
                       if not (d / "meta.properties").exists()]
        if unformatted:
            on_step(f"formatting the KRaft storage of node {self.config.node_id}")
            self._format_storage(java, ignore_formatted=len(unformatted) < 2 and self.config.separate_metadata_dir)
        for port in (self.config.port, self.config.controller_port, self.config.sasl_port):
            if port is None:
                continue
            ensure_port_free(port)
        on_step(f"starting the broker on {self.config.bootstrap}")
        return self._spawn(java)

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after `timeout_s`). False if none ran."""
        record = self._read_pid_record()
        if record is None or not alive(record["pid"]):
            self.config.pid_file.unlink(missing_ok=True)
            return False
        pid = record["pid"]
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
        self.config.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """kill -9 the broker, as a crash would; the pid record stays so `up` restarts it."""
        record = self._read_pid_record()
        if record and alive(record["pid"]):
            os.killpg(record["pid"], signal.SIGKILL)
            _wait_gone(record["pid"], 10.0)

    def status(self) -> BrokerStatus:
        record = self._read_pid_record()
        running = bool(record) and alive(record["pid"])
        return BrokerStatus(
            running=running,
            reachable=running and broker_answers(self.config.bootstrap),
            bootstrap=self.config.bootstrap,
            pid=record["pid"] if running else None,
            since=datetime.fromisoformat(record["started_at"]) if running else None,
            version=self.config.version,
            home=self.config.home,
        )

    # -- first-run work ----------------------------------------------------------------------

    def _jars_ready(self) -> bool:
        return (self.config.jars_dir / ".complete").exists()

    def resolve_jars(self) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "Maven (mvn) is not on PATH; it resolves the Kafka jars from Maven Central. "
                "Install it (Debian: apt-get install maven) and run `ledger stack up` again."
            )
        target = self.config.jars_dir
        target.mkdir(parents=True, exist_ok=True)
        pom = resources.files("ledger") / "pom.xml"
        with resources.as_file(pom) as pom_path:
            command = [
                mvn, "-q", "-B", "-f", str(pom_path),
                "dependency:copy-dependencies",
                f"-Dkafka.version={self.config.version}",
                f"-DoutputDirectory={target}",
                "-DincludeScope=runtime",
            ]
            if self.config.maven_repo:
                command.append(f"-Dmaven.repo.local={self.config.maven_repo}")
            result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not list(target.glob("kafka_2.13-*.jar")):
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise StackError(
                f"Maven could not resolve Apache Kafka {self.config.version} from Maven Central "
                f"(exit {result.returncode}). Check the network and LEDGER_KAFKA_VERSION.\n{tail}"
            )
        (target / ".complete").write_text(self.config.version)

    def _write_configs(self) -> None:
        cfg = self.config
        cfg.home.mkdir(parents=True, exist_ok=True)
        cfg.log_dir.mkdir(parents=True, exist_ok=True)
        voters = cfg.voters or ((cfg.node_id, cfg.controller_port),)
        properties = {
            "process.roles": "broker,controller",
            "node.id": str(cfg.node_id),
            "controller.quorum.voters": ",".join(f"{node}@127.0.0.1:{port}" for node, port in voters),
            "listeners": f"PLAINTEXT://127.0.0.1:{cfg.port},CONTROLLER://127.0.0.1:{cfg.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{cfg.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(cfg.data_dir),
            "metadata.log.dir": str(cfg.metadata_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.ms": str(cfg.retention_ms),
            "log.retention.check.interval.ms": str(cfg.retention_check_interval_ms),
            "message.max.bytes": str(1024 * 1024),
        }
        if cfg.sasl_port:
            properties["listeners"] += f",SASL://127.0.0.1:{cfg.sasl_port}"
            properties["advertised.listeners"] += f",SASL://127.0.0.1:{cfg.sasl_port}"
            properties["listener.security.protocol.map"] += ",SASL:SASL_PLAINTEXT"
            properties["sasl.enabled.mechanisms"] = "SCRAM-SHA-256,SCRAM-SHA-512"
            for mechanism in ("scram-sha-256", "scram-sha-512"):
                properties[f"listener.name.sasl.{mechanism}.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;")
        properties.update(dict(cfg.extra_properties))
        (cfg.home / "server.properties").write_text(
            "".join(f"{key}={value}\n" for key, value in properties.items())
        )
        (cfg.home / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, file\n"
            "log4j.appender.file=org.apache.log4j.RollingFileAppender\n"
            f"log4j.appender.file.File={cfg.log_dir / 'server.log'}\n"
            "log4j.appender.file.MaxFileSize=20MB\n"
            "log4j.appender.file.MaxBackupIndex=3\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\n"
            "log4j.logger.org.apache.kafka=INFO\n"
        )

    def _java_command(self, java: str, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            java, f"-Xmx{heap}", f"-Xms{heap}" if main == _BROKER_MAIN else "-Xms64m",
            "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.config.home / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.config.log_dir}",
            "-cp", str(self.config.jars_dir / "*"), main, *args,
        ]

    def _format_storage(self, java: str, ignore_formatted: bool = False) -> None:
        cluster_id = self.config.cluster_id or _cluster_id()
        scram = []
        for user, password in self.config.scram_users:
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                scram += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        command = self._java_command(
            java, _STORAGE_TOOL, "format", f"--cluster-id={cluster_id}",
            "-c", str(self.config.home / "server.properties"), *scram,
            *(["--ignore-formatted"] if ignore_formatted else []),
        )
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(
                f"formatting the Kafka storage directory {self.config.data_dir} failed "
                f"(exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
            )

    # -- the process -------------------------------------------------------------------------

    def _spawn(self, java: str) -> int:
        command = self._java_command(
            java, _BROKER_MAIN, str(self.config.home / "server.properties"), heap=self.config.heap,
        )
        with open(self.config.log_dir / "broker.out", "ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.config.home,
            )
        record = {
            "pid": process.pid,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "bootstrap": self.config.bootstrap,
            "version": self.config.version,
        }
        self.config.pid_file.write_text(json.dumps(record))
        return process.pid

    def _wait_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            if not alive(pid):
                raise StackError(
                    f"the Kafka broker exited during start-up; last lines of "
                    f"{self.config.log_dir / 'server.log'}:\n{self.log_tail()}"
                )
            if broker_answers(self.config.bootstrap):
                return
            time.sleep(0.25)
        raise StackError(
            f"the Kafka broker (pid {pid}) did not answer metadata requests on {self.config.bootstrap} "
            f"within {self.config.start_timeout_s:.0f}s; raise LEDGER_BROKER_START_TIMEOUT_S or read "
            f"{self.config.log_dir / 'server.log'}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        path = self.config.log_dir / "server.log"
        if not path.exists():
            path = self.config.log_dir / "broker.out"
        if not path.exists():
            return "(no log written)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _read_pid_record(self) -> dict | None:
        try:
            return json.loads(self.config.pid_file.read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return None


# -- a cluster of local nodes -------------------------------------------------------------------


CLUSTER_DIR = "kafka-cluster"


def cluster_node_configs(home: Path, *, brokers: int, jars_cache: Path, version: str, port: int,
                         controller_port: int, heap: str = "512m", start_timeout_s: float = 90.0,
                         maven_repo: Path | None = None, cluster_id: str,
                         extra_properties: tuple[tuple[str, str], ...] = ()) -> list[BrokerConfig]:
    """Configs of ``brokers`` combined nodes under ``home/node-<id>``: node n (from 1) listens on
    ``port + 2(n-1)`` for clients and ``controller_port + 2(n-1)`` for the quorum.

    Every node is a broker and a controller: three controllers form a quorum that survives the
    loss of one, without three more JVMs. The cluster's internal topics (consumer offsets,
    transactions) and its defaults get the replication a ledger topic gets (streams.kafka.replication).
    """
    from streams.kafka.replication import Replication

    replication = Replication.resolve(brokers)
    ports = [(n, port + 2 * (n - 1), controller_port + 2 * (n - 1)) for n in range(1, brokers + 1)]
    voters = tuple((n, controller) for n, _, controller in ports)
    cluster_properties = (
        ("offsets.topic.replication.factor", str(replication.factor)),
        ("transaction.state.log.replication.factor", str(replication.factor)),
        ("transaction.state.log.min.isr", str(replication.min_insync)),
        ("default.replication.factor", str(replication.factor)),
        ("min.insync.replicas", str(replication.min_insync)),
        ("unclean.leader.election.enable", "false"),
        ("broker.session.timeout.ms", "6000"),
        ("broker.heartbeat.interval.ms", "1000"),
        ("num.network.threads", "2"),
        ("num.io.threads", "4"),
        ("background.threads", "4"),
        ("log.cleaner.threads", "1"),
        ("log.cleaner.dedupe.buffer.size", str(8 * 1024 * 1024)),
    )
    return [
        BrokerConfig(
            home=home / f"node-{n}", jars_cache=jars_cache, version=version, port=client,
            controller_port=controller, heap=heap, start_timeout_s=start_timeout_s, maven_repo=maven_repo,
            node_id=n, voters=voters, cluster_id=cluster_id, separate_metadata_dir=True,
            extra_properties=cluster_properties + tuple(extra_properties),
        )
        for n, client, controller in ports
    ]


def cluster_from_settings(settings, brokers: int | None = None) -> LocalCluster:
    """The local cluster under ``<state_dir>/kafka-cluster``: as recorded there when it was first
    started, or a new one of ``brokers`` (default ``LEDGER_BROKERS``) nodes."""
    home = settings.state_dir / CLUSTER_DIR
    record = LocalCluster.read_record(home)
    if record and brokers not in (None, record["brokers"]):
        raise StackError(f"the local cluster in {home} has {record['brokers']} nodes, not {brokers}; "
                         "`ledger stack down --wipe` removes it")
    nodes = record["brokers"] if record else (brokers or settings.brokers)
    return LocalCluster(home, cluster_node_configs(
        home, brokers=nodes, jars_cache=settings.cache_dir, version=settings.kafka_version,
        port=settings.broker_port, controller_port=settings.controller_port, heap=settings.broker_heap,
        start_timeout_s=max(settings.broker_start_timeout_s, 90.0), maven_repo=settings.maven_repo,
        cluster_id=record["cluster_id"] if record else _cluster_id(),
        extra_properties=(("log.retention.ms", str(settings.session_retention_ms)),
                          ("log.retention.check.interval.ms", str(settings.broker_retention_check_interval_ms))),
    ))


@dataclass(frozen=True)
class ClusterStatus:
    nodes: list[tuple[int, BrokerStatus]]
    quorum: dict | None
    """Leader id, epoch and voters of the metadata quorum; None when no node answered."""
    under_replicated: list[dict]
    """Partitions with fewer in-sync replicas than replicas: topic, partition, replicas, isr."""
    registered: list[int]
    """Broker ids the cluster has registered (unfenced)."""

    @property
    def reachable(self) -> bool:
        return any(status.reachable for _, status in self.nodes)

    @property
    def bootstrap(self) -> str:
        return ",".join(status.bootstrap for _, status in self.nodes)

    def as_dict(self) -> dict:
        return {
            "nodes": [{"node_id": node, **status.as_dict()} for node, status in self.nodes],
            "bootstrap": self.bootstrap,
            "quorum": self.quorum,
            "registered_brokers": self.registered,
            "under_replicated": self.under_replicated,
        }


class LocalCluster:
    """Start, stop, crash and inspect a cluster of local nodes; ``up`` is idempotent."""

    def __init__(self, home: Path, nodes: list[BrokerConfig]) -> None:
        self.home = home
        self.nodes = {config.node_id: LocalBroker(config) for config in nodes}

    @property
    def bootstrap(self) -> str:
        return ",".join(node.config.bootstrap for node in self.nodes.values())

    @staticmethod
    def read_record(home: Path) -> dict | None:
        try:
            return json.loads((home / "cluster.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def up(self, on_step=lambda message: None) -> ClusterStatus:
        """Start every node that is not running, then wait until all are registered brokers."""
        first = next(iter(self.nodes.values()))
        java = require_java()
        if not first._jars_ready():
            on_step(f"resolving Apache Kafka {first.config.version} jars from Maven Central (first run only)")
            first.resolve_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "cluster.json").write_text(json.dumps(
            {"brokers": len(self.nodes), "cluster_id": first.config.cluster_id}))
        launched = {}
        for node_id, node in self.nodes.items():
            if not node.status().running:
                launched[node_id] = node.launch(java, on_step)
        on_step(f"waiting for {len(self.nodes)} nodes to form the cluster")
        for node_id, pid in launched.items():
            self.nodes[node_id]._wait_ready(pid)
        self.wait_registered(set(self.nodes), timeout_s=first.config.start_timeout_s)
        return self.status()

    def start(self, node_id: int) -> None:
        """Start one node again (same ports, same data) and wait until the cluster registers it."""
        self.nodes[node_id].up()
        self.wait_registered({node_id}, timeout_s=self.nodes[node_id].config.start_timeout_s)

    def kill(self, node_id: int) -> None:
        """kill -9 one node, as a crash would."""
        self.nodes[node_id].kill()

    def stop(self, node_id: int, timeout_s: float = 60.0) -> bool:
        """Stop one node cleanly (SIGTERM: a controlled shutdown hands its leaderships over first)."""
        return self.nodes[node_id].down(timeout_s=timeout_s)

    def wipe(self, node_id: int) -> None:
        """Delete one stopped node's partition data (its log dir), as a lost disk would."""
        node = self.nodes[node_id]
        if node.status().running:
            raise StackError(f"node {node_id} is running; stop it before wiping its log dir")
        shutil.rmtree(node.config.data_dir, ignore_errors=True)

    def down(self, timeout_s: float = 20.0) -> list[int]:
        """Stop every node: SIGTERM to all at once, SIGKILL to any still running after
        ``timeout_s``. Returns the ids of those that were running.

        A node whose peers are already gone cannot finish a controlled shutdown (no controller
        quorum answers it) and would wait in controller elections; its logs are recovered on the
        next start, as after any crash.
        """
        pids = {}
        for node_id, node in self.nodes.items():
            record = node._read_pid_record()
            if record and alive(record["pid"]):
                os.killpg(record["pid"], signal.SIGTERM)
                pids[node_id] = record["pid"]
        deadline = time.monotonic() + timeout_s
        while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for node_id, pid in pids.items():
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
                _wait_gone(pid, 10.0)
            self.nodes[node_id].config.pid_file.unlink(missing_ok=True)
        return sorted(pids)

    def leader_of(self, topic: str, partition: int = 0) -> int | None:
        """The node leading ``topic[partition]`` now; None while it has none or no node answers."""
        for described in self._admin_call(lambda admin: admin.describe_topics([topic])) or ():
            for p in described["partitions"]:
                if p["partition_index"] == partition and p["leader_id"] >= 0:
                    return p["leader_id"]
        return None

    def wait_registered(self, node_ids: set[int], timeout_s: float = 90.0) -> None:
        """Wait until the cluster lists every node of ``node_ids`` as an (unfenced) broker."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            registered = set(self._registered() or ())
            if node_ids <= registered:
                return
            time.sleep(0.5)
        raise StackError(f"nodes {sorted(node_ids - set(self._registered() or ()))} did not join the cluster "
                         f"within {timeout_s:.0f}s; read {self.home}/node-*/logs/server.log")

    def status(self) -> ClusterStatus:
        nodes = [(node_id, node.status()) for node_id, node in self.nodes.items()]
        return ClusterStatus(nodes=nodes, quorum=self._quorum(), under_replicated=self._under_replicated(),
                             registered=sorted(self._registered() or ()))

    # -- what the cluster says about itself ----------------------------------------------------

    def _admin_call(self, call):
        """``call(admin)`` on a kafka-python admin client of the live nodes; None when none answers."""
        from kafka.admin import KafkaAdminClient
        from kafka.errors import KafkaError

        live = ",".join(n.config.bootstrap for n in self.nodes.values() if n.status().running)
        if not live:
            return None
        try:
            admin = KafkaAdminClient(bootstrap_servers=live, request_timeout_ms=5000, bootstrap_timeout_ms=5000)
        except (KafkaError, OSError, ValueError):
            return None
        try:
            return call(admin)
        except (KafkaError, OSError):
            return None
        finally:
            admin.close()

    def _registered(self) -> list[int] | None:
        described = self._admin_call(lambda admin: admin.describe_cluster())
        return None if described is None else [b["broker_id"] for b in described["brokers"]]

    def _quorum(self) -> dict | None:
        described = self._admin_call(lambda admin: admin.describe_metadata_quorum())
        if not described:
            return None
        partition = described["topics"][0]["partitions"][0]
        return {
            "leader": partition["leader_id"],
            "epoch": partition["leader_epoch"],
            "high_watermark": partition["high_watermark"],
            "voters": [{"node_id": v["replica_id"], "log_end_offset": v["log_end_offset"]}
                       for v in partition["current_voters"]],
        }

    def _under_replicated(self) -> list[dict]:
        described = self._admin_call(lambda admin: admin.describe_topics()) or []
        return [
            {"topic": t["name"], "partition": p["partition_index"], "leader": p["leader_id"],
             "replicas": p["replica_nodes"], "isr": p["isr_nodes"]}
            for t in described for p in t["partitions"]
            if len(p["isr_nodes"]) < len(p["replica_nodes"])
        ]


# -- probes ------------------------------------------------------------------------------------

def require_java() -> str:
    """Path of a Java >= 17 runtime, or a StackError saying how to get one."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise StackError(
            "no Java runtime found (java is not on PATH and JAVA_HOME is unset); the Kafka broker "
            f"needs Java {_MIN_JAVA}+. Install it (Debian: apt-get install openjdk-17-jre-headless)."
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):
        major = int(match.group(2))
    if major < _MIN_JAVA:
        raise StackError(f"{java} is Java {major or 'of unknown version'}; the Kafka broker needs Java {_MIN_JAVA}+.")
    return java


def ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The JVM binds with SO_REUSEADDR too, so connections lingering in TIME_WAIT after a
        # restart do not count as "taken"; only a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            raise StackError(
                f"port {port} on 127.0.0.1 is already taken by another process; stop it or choose "
                "other ports with LEDGER_BROKER_PORT / LEDGER_CONTROLLER_PORT."
            ) from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_answers(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when the broker answers a metadata request (not merely accepts a TCP connection)."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000) + 1000,
            bootstrap_timeout_ms=int(timeout_s * 1000),
            connections_max_idle_ms=int(timeout_s * 1000) + 2000,
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        consumer.topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        consumer.close()


def _wait_gone(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 characters).

    Never one that starts with '-' (1 draw in 64 would): Kafka's own ids never do, and its
    storage tool would read such an id as an option.
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


# -- the standalone owner of the embedded warehouse ---------------------------------------------

OWNER_LOG = "warehouse-owner.log"
OWNER_START_TIMEOUT_S = 60.0


def start_warehouse_owner(settings, env: dict[str, str] | None = None,
                          timeout_s: float = OWNER_START_TIMEOUT_S):
    """Start `ledger warehouse serve` in the background (its own session, output appended to
    ``<state_dir>/warehouse-owner.log``) unless a process already owns the warehouse; returns
    the owner (analytics.serve.owner.Owner) once it serves reads."""
    import sys

    from analytics.serve.owner import read_owner

    current = read_owner(settings.state_dir)
    if current is not None:
        return current
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.state_dir / OWNER_LOG
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "warehouse", "serve"], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **(env or {})},
            cwd=Path(__file__).resolve().parents[1],
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owner = read_owner(settings.state_dir)
        if owner is not None:
            return owner
        if process.poll() is not None:
            break
        time.sleep(0.1)
    if process.poll() is None:
        process.terminate()
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-10:])
    raise StackError(f"the standalone warehouse owner did not start serving reads within {timeout_s:.0f}s; "
                     f"last lines of {log_path}:\n{tail}")


def stop_warehouse_owner(state_dir: Path, timeout_s: float = 30.0) -> int | None:
    """Stop the standalone warehouse owner (SIGTERM, then wait); a sink that owns the warehouse is
    left alone. Returns the pid stopped, or None."""
    from analytics.serve.owner import STANDALONE, read_owner

    owner = read_owner(state_dir)
    if owner is None or owner.role != STANDALONE:
        return None
    try:
        os.kill(owner.pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    _wait_gone(owner.pid, timeout_s)
    return owner.pid
