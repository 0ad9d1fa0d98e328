"""The deploy-time model: complete for every type the program uses, and faithful to the graph."""

from __future__ import annotations

from orthweb.evaluate import Evaluation
from tools.bench.deploy_model import creation_times, duration, duration_key, model_stack, model_terraform_anchor


def test_every_resource_type_of_the_program_has_a_sourced_duration(stack: Evaluation) -> None:
    for resource in stack.resources:
        if resource.custom:
            assert duration(resource) >= 0
            assert creation_times()["types"][duration_key(resource)]["source"]


def test_database_creation_is_the_critical_path_and_hosts_boot_alongside(stack: Evaluation) -> None:
    model = model_stack(stack)
    steps = [step.label for step in model.critical_path]
    assert any(label.startswith("aws:rds/instance:Instance") for label in steps)
    assert not any(label.startswith("aws:ec2/instance:Instance") for label in steps)
    rds = next(s for s in model.critical_path if s.label.startswith("aws:rds/instance"))
    assert model.host_booted is not None and model.host_booted < rds.finish
    assert model.seconds == model.critical_path[-1].finish


def test_multi_az_prod_takes_longer_than_dev_and_both_beat_the_serial_anchor(dev: Evaluation, prod: Evaluation) -> None:
    anchor = model_terraform_anchor()
    dev_model, prod_model = model_stack(dev), model_stack(prod)
    assert dev_model.seconds < prod_model.seconds < anchor.seconds
    # The anchor is serial: its total is the sum of its steps.
    assert anchor.seconds == sum(step.seconds for step in anchor.critical_path)
