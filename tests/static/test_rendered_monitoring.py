"""What a host reports and logs, checked on the rendered files: the CloudWatch agent's configuration
against the agent's documented schema, that it publishes exactly what the alarms watch, the
Prometheus scrape, Docker's awslogs driver in compose, and Envoy's access-log formats (no query
string, no secret) and metrics listener."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import jsonschema
import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.layout import HEALTH_AUTH_PLACEHOLDER, HOST_FILES
from orthweb.infra.alarm_plan import HostToWatch, host_rules
from orthweb.shared import telemetry
from tests.static.static_checks import first_boot_commands

# --- the CloudWatch agent's configuration ------------------------------------------------------
#
# The rules below restate, for the sections this program writes, the agent's own JSON schema
# (aws/amazon-cloudwatch-agent, translator/config/schema.json): which keys each section may hold,
# their types and limits. The agent refuses a configuration that breaks them (its config-translator
# runs the schema), so a host would come up without metrics.

_INTERVAL = {"type": "integer", "minimum": 1, "maximum": 172800}
_DIMENSIONS = {
    "type": "object",
    "maxProperties": 30,
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 1024},
}
_MEASUREMENT = {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1, "maxLength": 255}}
_PLUGIN = {
    "type": "object",
    "required": ["measurement"],
    "properties": {
        "measurement": _MEASUREMENT,
        "metrics_collection_interval": _INTERVAL,
        "append_dimensions": _DIMENSIONS,
        "resources": {"type": "array", "maxItems": 256, "items": {"type": "string", "minLength": 1, "maxLength": 4096}},
        "drop_device": {"type": "boolean"},
        "ignore_file_system_types": {"type": "array", "items": {"type": "string"}},
    },
}
_DECLARATION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "source_labels": {"type": "array", "items": {"type": "string"}},
        "label_matcher": {"type": "string"},
        "label_separator": {"type": "string"},
        "metric_selectors": {"type": "array", "items": {"type": "string"}},
        "dimensions": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    },
}
AGENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "agent": {
            "type": "object",
            "properties": {
                "metrics_collection_interval": _INTERVAL,
                "logfile": {"type": "string", "maxLength": 4096},
                "region": {"type": "string", "minLength": 1, "maxLength": 64},
                "debug": {"type": "boolean"},
                "omit_hostname": {"type": "boolean"},
            },
        },
        "metrics": {
            "type": "object",
            "additionalProperties": False,
            "required": ["metrics_collected"],
            "properties": {
                "namespace": {"type": "string", "minLength": 1, "maxLength": 255},
                "append_dimensions": _DIMENSIONS,
                "aggregation_dimensions": {"type": "array"},
                "force_flush_interval": _INTERVAL,
                "metrics_collected": {
                    "type": "object",
                    "minProperties": 1,
                    "properties": {"mem": _PLUGIN, "disk": _PLUGIN, "cpu": _PLUGIN, "swap": _PLUGIN},
                },
            },
        },
        "logs": {
            "type": "object",
            "additionalProperties": False,
            "anyOf": [{"required": ["logs_collected"]}, {"required": ["metrics_collected"]}],
            "properties": {
                "logs_collected": {"type": "object"},
                "force_flush_interval": _INTERVAL,
                "log_stream_name": {"type": "string", "minLength": 1, "maxLength": 512},
                "metrics_collected": {
                    "type": "object",
                    "properties": {
                        "prometheus": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "cluster_name": {"type": "string"},
                                "log_group_name": {"type": "string"},
                                "prometheus_config_path": {"type": "string"},
                                "disable_metric_extraction": {"type": "boolean"},
                                "emf_processor": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "metric_declaration_dedup": {"type": "boolean"},
                                        "metric_namespace": {"type": "string"},
                                        "metric_unit": {"type": "object"},
                                        "metric_declaration": {"type": "array", "items": _DECLARATION},
                                    },
                                },
                            },
                        }
                    },
                },
            },
        },
    },
}
# Dimensions the agent's metrics section accepts in its *global* append_dimensions (the schema says
# only these four, each filled from EC2); per-plugin append_dimensions take any key.
GLOBAL_APPEND_DIMENSIONS = {"ImageId", "InstanceId", "InstanceType", "AutoScalingGroupName"}


@pytest.fixture(scope="module")
def agent(rendered: dict[str, str]) -> dict[str, Any]:
    return json.loads(rendered["cloudwatch-agent.json"])


@pytest.fixture(scope="module")
def scrape(rendered: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(rendered["prometheus.yaml"])


def test_the_agent_configuration_follows_the_agents_schema(agent: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(AGENT_SCHEMA)
    jsonschema.validate(agent, AGENT_SCHEMA, cls=jsonschema.Draft4Validator)
    assert set(agent["metrics"].get("append_dimensions", {})) <= GLOBAL_APPEND_DIMENSIONS


@pytest.mark.parametrize(
    "broken",
    [
        lambda c: c["metrics"].update(namespaces="typo"),
        lambda c: c["metrics"]["metrics_collected"]["mem"].pop("measurement"),
        lambda c: c["logs"]["metrics_collected"]["prometheus"].update(prometheus_config="typo"),
        lambda c: c["logs"]["metrics_collected"]["prometheus"]["emf_processor"]["metric_declaration"][0].update(
            dimension=[["Host"]]
        ),
        lambda c: c["agent"].update(metrics_collection_interval=0),
        lambda c: c["logs"].pop("metrics_collected"),
    ],
)
def test_the_schema_rules_catch_what_the_agent_would_refuse(agent: dict[str, Any], broken: Any) -> None:
    config = json.loads(json.dumps(agent))
    broken(config)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, AGENT_SCHEMA, cls=jsonschema.Draft4Validator)


def published_series(agent: dict[str, Any]) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, metric, dimensions) of every series the configured agent publishes.

    Host metrics: the measurement with the plugin's appended dimensions (plus, for disk, the mount
    point and file system type the agent always adds). Prometheus series: each declaration's metric
    with its dimensions' values taken from the label matcher (or the static Host label)."""
    series = set()
    namespace = agent["metrics"]["namespace"]
    for plugin, settings in agent["metrics"]["metrics_collected"].items():
        dimensions = dict(settings.get("append_dimensions", {}))
        if plugin == "disk":
            dimensions.update(path=settings["resources"][0], fstype=telemetry.ROOT_DISK_USED.dimensions["fstype"])
        for name in settings["measurement"]:
            series.add((namespace, name, frozenset(dimensions.items())))
    emf = agent["logs"]["metrics_collected"]["prometheus"]["emf_processor"]
    for declaration in emf["metric_declaration"]:
        labels = declaration["source_labels"]
        pattern = re.compile(declaration["label_matcher"])
        matcher = declaration["label_matcher"].strip("^$").split(";")
        values = {
            label: [v.strip("()") for v in value.split("|")] for label, value in zip(labels, matcher, strict=True)
        }
        (dimension_set,) = declaration["dimensions"]
        (selector,) = declaration["metric_selectors"]
        name = selector.strip("^$")
        for combination in _combinations(values):
            assert pattern.fullmatch(";".join(combination[label] for label in labels))
            dims = {d: combination.get(d, "primary" if d == telemetry.HOST_DIMENSION else "?") for d in dimension_set}
            series.add((emf["metric_namespace"], name, frozenset(dims.items())))
    return series


def _combinations(values: dict[str, list[str]]) -> list[dict[str, str]]:
    combos: list[dict[str, str]] = [{}]
    for label, options in values.items():
        combos = [{**combo, label: option} for combo in combos for option in options]
    return combos


def test_the_agent_publishes_every_series_the_hosts_alarms_watch(
    agent: dict[str, Any], app_context: HostAppContext
) -> None:
    published = published_series(agent)
    rules = host_rules(
        HostToWatch(app_context.host_role, "i-1", True), stack=app_context.stack, replicas=3, recover=True
    )
    own = [rule for rule in rules if rule.namespace == telemetry.metric_namespace(app_context.stack)]
    assert own
    for rule in own:
        assert (rule.namespace, rule.metric, frozenset(rule.dimensions.items())) in published, rule.key


def test_the_agent_publishes_nothing_unbilled_by_design(agent: dict[str, Any]) -> None:
    """Every custom metric costs money: exactly the ones `telemetry` counts, no more."""
    assert len(published_series(agent)) == telemetry.custom_metrics_per_host()


def test_the_agent_writes_to_the_stacks_namespace_and_metrics_group(
    agent: dict[str, Any], app_context: HostAppContext
) -> None:
    namespace = telemetry.metric_namespace(app_context.stack)
    prometheus = agent["logs"]["metrics_collected"]["prometheus"]
    assert agent["metrics"]["namespace"] == prometheus["emf_processor"]["metric_namespace"] == namespace
    assert prometheus["log_group_name"] == telemetry.log_group_name(app_context.stack, telemetry.METRIC_EVENTS_LOGS)
    scrape_file = next(f for f in HOST_FILES if f.name == "prometheus.yaml")
    assert prometheus["prometheus_config_path"] == scrape_file.path
    assert agent["agent"]["region"] == app_context.region
    assert agent["agent"]["omit_hostname"] is True  # else every series gains a host dimension


def test_the_scrape_keeps_only_the_series_the_agent_publishes(
    scrape: dict[str, Any], app_context: HostAppContext
) -> None:
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert set(jobs) == {telemetry.ENVOY, telemetry.ORTHANC}
    for source, job in jobs.items():
        (target,) = job["static_configs"]
        assert target["targets"] == [f"127.0.0.1:{telemetry.METRICS_PORT}"]
        assert target["labels"] == {telemetry.HOST_DIMENSION: app_context.host_role}
        (keep,) = job["metric_relabel_configs"]
        assert keep["action"] == "keep" and keep["source_labels"] == ["__name__"]
        kept = {m.name for m in telemetry.SCRAPED_METRICS if m.source == source}
        assert set(keep["regex"].split("|")) == kept
    assert jobs[telemetry.ENVOY]["metrics_path"] == telemetry.ENVOY_STATS_PATH
    assert jobs[telemetry.ORTHANC]["metrics_path"] == telemetry.ORTHANC_METRICS_PATH


# --- container logs ----------------------------------------------------------------------------


def test_every_container_logs_to_its_components_group_without_blocking(
    rendered: dict[str, str], app_context: HostAppContext
) -> None:
    compose = yaml.safe_load(rendered["docker-compose.yml"])
    for name, service in compose["services"].items():
        component = telemetry.ENVOY_LOGS if name == "envoy" else telemetry.ORTHANC_LOGS
        logging = service["logging"]
        assert logging["driver"] == "awslogs", name
        options = logging["options"]
        assert options["awslogs-group"] == telemetry.log_group_name(app_context.stack, component), name
        assert options["awslogs-region"] == app_context.region
        # The group exists with its key and retention; the host may not create one.
        assert options.get("awslogs-create-group", "false") == "false"
        assert options["mode"] == "non-blocking" and options["max-buffer-size"]
        assert options["tag"] == f"{app_context.host_role}/{{{{.Name}}}}"


# --- Envoy: access logs and the metrics listener ----------------------------------------------

# Command operators an access log line may use: none of them can carry a query string, a header
# other than the request id, a cookie or a credential.
ALLOWED_OPERATORS = {
    "%START_TIME%",
    "%REQ(:METHOD)%",
    "%PATH(NQ)%",
    "%RESPONSE_CODE%",
    "%BYTES_SENT%",
    "%BYTES_RECEIVED%",
    "%DURATION%",
    "%UPSTREAM_HOST_NAME%",
    "%REQ(X-REQUEST-ID)%",
    "%DOWNSTREAM_REMOTE_ADDRESS%",
    # The TCP peer (never X-Forwarded-For, which a client writes).
    "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    # Who asked, as the sign-in filter took it from the verified token.
    *(f"%DYNAMIC_METADATA({telemetry.AUDIT_METADATA}:{field})%" for field in telemetry.IDENTITY_FIELDS),
    # What a request touched that only Envoy sees: UIDs and Orthanc ids (orthweb.shared.telemetry).
    *(f"%DYNAMIC_METADATA({telemetry.AUDIT_METADATA}:{field})%" for field in telemetry.AUDIT_REFERENCE_FIELDS),
    # The URI of a modality's client certificate: the name of a modality, not a secret.
    "%DOWNSTREAM_PEER_URI_SAN%",
}


@pytest.fixture(scope="module")
def envoy_config(rendered: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(rendered["envoy.yaml"])


def access_log_formats(envoy_config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Listener name -> the json_format of its access log."""
    formats = {}
    for listener in envoy_config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                for log in network_filter["typed_config"].get("access_log", []):
                    formats[listener["name"]] = log["typed_config"]["log_format"]["json_format"]
    return formats


def test_access_logs_have_exactly_the_documented_fields(envoy_config: dict[str, Any]) -> None:
    formats = access_log_formats(envoy_config)
    assert set(formats) == {"https", "dicom_tls"}
    assert tuple(formats["https"]) == telemetry.HTTP_ACCESS_LOG_FIELDS
    assert tuple(formats["dicom_tls"]) == telemetry.DICOM_CONNECTION_LOG_FIELDS
    assert formats["https"]["path"] == "%PATH(NQ)%"


def test_no_access_log_line_can_carry_a_query_string_or_a_secret(
    envoy_config: dict[str, Any], rendered: dict[str, str]
) -> None:
    for listener, fields in access_log_formats(envoy_config).items():
        for field, value in fields.items():
            if (field, value) == ("auth", telemetry.AUTH_SHARED_CREDENTIAL):
                continue  # basic authentication: one shared credential, the same for every line
            operators = set(re.findall(r"%[A-Z_]+(?:\([^)]*\))?%", value))
            assert operators and operators <= ALLOWED_OPERATORS, (listener, field, value)
            assert value == next(iter(operators)), "one operator per field, nothing else"
    # The placeholder the health credential replaces at boot appears only in request headers.
    for fields in access_log_formats(envoy_config).values():
        assert HEALTH_AUTH_PLACEHOLDER not in json.dumps(fields)


def metrics_listener(envoy_config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = [lst for lst in envoy_config["static_resources"]["listeners"] if lst["name"] == "metrics"]
    return listener


def test_the_metrics_listener_serves_two_read_only_paths_and_nothing_else(envoy_config: dict[str, Any]) -> None:
    listener = metrics_listener(envoy_config)
    assert listener["address"]["socket_address"]["port_value"] == telemetry.METRICS_PORT
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    (host,) = manager["typed_config"]["route_config"]["virtual_hosts"]
    routes = host["routes"]
    served = {route["match"]["path"]: route for route in routes if "path" in route["match"]}
    assert set(served) == {telemetry.ENVOY_STATS_PATH, telemetry.ORTHANC_METRICS_PATH}
    for route in served.values():
        (method,) = route["match"]["headers"]
        assert method == {"name": ":method", "string_match": {"exact": "GET"}}
    assert served[telemetry.ENVOY_STATS_PATH]["route"]["cluster"] == "envoy_admin"
    orthanc = served[telemetry.ORTHANC_METRICS_PATH]
    assert orthanc["route"]["cluster"] == telemetry.HTTP_CLUSTER
    assert orthanc["route"]["prefix_rewrite"] == telemetry.ORTHANC_METRICS_UPSTREAM_PATH
    (header,) = orthanc["request_headers_to_add"]
    assert header["header"] == {"key": "Authorization", "value": HEALTH_AUTH_PLACEHOLDER}
    assert routes[-1] == {"match": {"prefix": "/"}, "direct_response": {"status": 404}}
    (admin,) = [c for c in envoy_config["static_resources"]["clusters"] if c["name"] == "envoy_admin"]
    endpoint = admin["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert endpoint == {
        "address": "127.0.0.1",
        "port_value": envoy_config["admin"]["address"]["socket_address"]["port_value"],
    }


def test_the_metrics_port_is_published_on_the_hosts_loopback_only(rendered: dict[str, str]) -> None:
    compose = yaml.safe_load(rendered["docker-compose.yml"])
    ports = compose["services"]["envoy"]["ports"]
    metrics = [p for p in ports if p.endswith(f":{telemetry.METRICS_PORT}")]
    assert metrics == [f"127.0.0.1:{telemetry.METRICS_PORT}:{telemetry.METRICS_PORT}"]


def test_the_envoy_names_the_agent_filters_on_are_the_rendered_ones(envoy_config: dict[str, Any]) -> None:
    clusters = {c["name"] for c in envoy_config["static_resources"]["clusters"]}
    assert {telemetry.HTTP_CLUSTER, telemetry.DICOM_CLUSTER} <= clusters
    prefixes = {
        f["typed_config"]["stat_prefix"]
        for lst in envoy_config["static_resources"]["listeners"]
        for chain in lst["filter_chains"]
        for f in chain["filters"]
    }
    assert telemetry.HTTPS_STAT_PREFIX in prefixes


# --- the agent on the host ---------------------------------------------------------------------


def test_cloud_init_installs_and_starts_the_agent_with_this_configuration(rendered: dict[str, str]) -> None:
    document = yaml.safe_load(rendered["cloud-init.yaml"])
    assert "amazon-cloudwatch-agent" in document["packages"]
    agent_file = next(f for f in HOST_FILES if f.name == "cloudwatch-agent.json")
    start = [c for c in first_boot_commands(rendered) if "amazon-cloudwatch-agent-ctl" in c]
    assert [shlex.split(c) for c in start] == [
        [
            "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl",
            "-a",
            "fetch-config",
            "-m",
            "ec2",
            "-s",
            "-c",
            f"file:{agent_file.path}",
        ]
    ]
