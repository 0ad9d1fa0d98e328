"""The Evaluation -> Terraform plan conversion, checked on the real dev stack (no checkov)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from orthweb.evaluate import Evaluation, plain, secrets_in
from orthweb.ops.compliance.plan import SECRET_PLACEHOLDER, address_name, snake_case, terraform_plan
from orthweb.ops.compliance.types import UnmappedTypeError

pytestmark = pytest.mark.compliance

DICOM_BUCKET = "aws_s3_bucket.orthweb_storage_dicom"


@pytest.fixture(scope="module")
def plan(dev: Evaluation) -> dict[str, Any]:
    return terraform_plan(dev)


def planned(plan: dict[str, Any], address: str) -> dict[str, Any]:
    return next(r for r in plan["planned_values"]["root_module"]["resources"] if r["address"] == address)["values"]


def expressions(plan: dict[str, Any], address: str) -> dict[str, Any]:
    resources = plan["configuration"]["root_module"]["resources"]
    return next(r for r in resources if r["address"] == address)["expressions"]


def refs(address: str, attribute: str = "id") -> list[str]:
    return [f"{address}.{attribute}", address]


def test_plan_has_the_terraform_show_json_shape(plan: dict[str, Any], dev: Evaluation) -> None:
    assert plan["format_version"] and plan["terraform_version"].startswith("1.")
    resources = plan["planned_values"]["root_module"]["resources"]
    configured = plan["configuration"]["root_module"]["resources"]
    assert len(resources) == len([r for r in dev.resources if r.custom]) == len(configured)
    addresses = [r["address"] for r in resources]
    assert len(set(addresses)) == len(addresses)
    assert [r["address"] for r in configured] == addresses
    for resource in resources:
        assert resource["mode"] == "managed"
        assert resource["address"] == f"{resource['type']}.{resource['name']}"
        assert resource["provider_name"].startswith("registry.terraform.io/hashicorp/")
    assert plan["configuration"]["provider_config"]["aws"]["expressions"]["region"] == {"constant_value": "us-east-1"}


def test_names_follow_terraform() -> None:
    assert snake_case("httpPutResponseHopLimit") == "http_put_response_hop_limit"
    assert snake_case("ipv6CidrBlocks") == "ipv6_cidr_blocks"
    assert address_name("orthweb-storage-dicom") == "orthweb_storage_dicom"
    assert address_name("1st") == "_1st"


def test_pluralised_blocks_become_singular_lists(plan: dict[str, Any], dev: Evaluation) -> None:
    parameters = planned(plan, "aws_db_parameter_group.orthweb_database_parameters")["parameter"]
    assert {"name": "rds.force_ssl", "value": "1", "apply_method": "immediate"} in parameters
    route = planned(plan, "aws_route_table.orthweb_network_public_routes")["route"]
    assert route == [{"cidr_block": "0.0.0.0/0"}]  # gateway_id is a reference, unknown at plan time
    rule = planned(plan, "aws_s3_bucket_server_side_encryption_configuration.orthweb_storage_dicom_encryption")["rule"]
    assert rule == [
        {"bucket_key_enabled": True, "apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}
    ]
    lifecycle = planned(plan, "aws_s3_bucket_lifecycle_configuration.orthweb_storage_logs_lifecycle")["rule"]
    assert lifecycle[0]["expiration"] == [{"days": dev.config.options.log_retention_days}]
    assert lifecycle[0]["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]


def test_nested_objects_become_blocks_and_maps_stay_maps(plan: dict[str, Any]) -> None:
    host = planned(plan, "aws_instance.orthweb_hosts_primary")
    assert host["metadata_options"] == [
        {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 2}
    ]
    assert host["root_block_device"][0]["encrypted"] is True
    assert host["tags"]["orthweb:role"] == "primary"
    assert isinstance(host["root_block_device"][0]["tags"], dict)
    versioning = planned(plan, "aws_s3_bucket_versioning.orthweb_storage_dicom_versioning")
    assert versioning["versioning_configuration"] == [{"status": "Enabled"}]


def test_whole_numbers_are_integers(plan: dict[str, Any]) -> None:
    rule = planned(plan, "aws_vpc_security_group_ingress_rule.orthweb_hosts_sg_in_dicom_tls_0_0_0_0_0")
    assert (rule["from_port"], rule["to_port"]) == (11112, 11112)
    assert type(rule["from_port"]) is int


def test_outputs_of_other_resources_become_references(plan: dict[str, Any]) -> None:
    access_block = "aws_s3_bucket_public_access_block.orthweb_storage_dicom_public_access"
    assert "bucket" not in planned(plan, access_block)
    assert expressions(plan, access_block)["bucket"] == {"references": refs(DICOM_BUCKET)}
    host = expressions(plan, "aws_instance.orthweb_hosts_primary")
    assert host["iam_instance_profile"] == {
        "references": refs("aws_iam_instance_profile.orthweb_host_identity_profile")
    }
    assert host["vpc_security_group_ids"] == {"references": refs("aws_security_group.orthweb_hosts_sg")}
    assert host["root_block_device"][0]["kms_key_id"] == {
        "references": refs("aws_kms_key.orthweb_encryption_key", "arn")
    }
    database = expressions(plan, "aws_db_instance.orthweb_database_postgres")
    assert database["parameter_group_name"] == {
        "references": refs("aws_db_parameter_group.orthweb_database_parameters")
    }
    flow_log = expressions(plan, "aws_flow_log.orthweb_network_flow_logs")
    assert flow_log["vpc_id"] == {"references": refs("aws_vpc.orthweb_network_vpc")}
    subnets = expressions(plan, "aws_db_subnet_group.orthweb_database_subnets")["subnet_ids"]["references"]
    assert subnets == [*refs("aws_subnet.orthweb_network_private_a"), *refs("aws_subnet.orthweb_network_private_b")]
    db_rule = expressions(plan, "aws_vpc_security_group_ingress_rule.orthweb_database_sg_in_postgres_peer")
    assert db_rule["security_group_id"] == {"references": refs("aws_security_group.orthweb_database_sg")}
    assert db_rule["referenced_security_group_id"] == {"references": refs("aws_security_group.orthweb_hosts_sg")}


def test_documents_built_from_outputs_keep_their_content(plan: dict[str, Any], dev: Evaluation) -> None:
    policy = "aws_s3_bucket_policy.orthweb_storage_dicom_policy"
    assert json.loads(planned(plan, policy)["policy"]) == json.loads(
        dev.named("orthweb-storage-dicom-policy").inputs["policy"]
    )
    named = expressions(plan, policy)["policy"]["references"]
    assert f"{DICOM_BUCKET}.arn" in named and "aws_iam_role.orthweb_host_identity_role.arn" in named


def test_a_value_equal_to_an_output_it_does_not_depend_on_stays_a_value(dev: Evaluation) -> None:
    # The Elastic IP names the hosts (its `instance`), whose computed state is "running"; another
    # input of the address that reads "running" depends on nothing and stays a value.
    eip = dev.one("aws:ec2/eip:Eip")
    assert dev.named("orthweb-hosts-primary").state["instanceState"] == "running"
    changed = dataclasses.replace(
        eip,
        inputs={**eip.inputs, "networkBorderGroup": "running"},
        # The engine records every input, an empty list for one that names no resource.
        property_dependencies={**eip.property_dependencies, "networkBorderGroup": ()},
    )
    plan = terraform_plan(dataclasses.replace(dev, resources=[changed if r is eip else r for r in dev.resources]))
    address = "aws_eip.orthweb_hosts_site_ip"
    assert planned(plan, address)["network_border_group"] == "running"
    assert expressions(plan, address)["network_border_group"] == {"constant_value": "running"}


def test_no_secret_reaches_the_plan(plan: dict[str, Any], dev: Evaluation) -> None:
    text = json.dumps(plan)
    secrets = [s for r in dev.resources for s in secrets_in(r.inputs)]
    generated = [r.state["result"] for r in dev.of_type("random:index/randomPassword:RandomPassword")]
    assert secrets and generated
    for value in [*secrets, *generated]:
        assert json.dumps(plain(value))[1:-1] not in text
    version = planned(plan, "aws_secretsmanager_secret_version.orthweb_secrets_orthanc_credentials_value")
    assert version["secret_string"] == SECRET_PLACEHOLDER


def test_an_unmapped_type_stops_the_conversion(dev: Evaluation) -> None:
    stranger = dataclasses.replace(dev.resources[-1], type="aws:lightsail/instance:Instance", urn="urn:stranger")
    with pytest.raises(UnmappedTypeError, match="aws:lightsail/instance:Instance"):
        terraform_plan(dataclasses.replace(dev, resources=[*dev.resources, stranger]))
