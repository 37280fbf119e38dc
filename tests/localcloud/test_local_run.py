"""localcloud takes the application's setting names from its template (``Metadata: LocalRun``), not from code."""
from __future__ import annotations

from pathlib import Path

from localcloud.invoke import local_run_for
from localcloud.template import LocalRun, parse_template, read_local_run

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """
ROSTemplateFormatVersion: '2015-09-01'
Metadata:
  LocalRun:
    EndpointVariables: {ecs: APP_ECS_URL, mns: APP_QUEUE_URL}
    OutcomeBusVariable: APP_BUS
    AllowListVariables: [APP_ALLOW]
Resources: {}
"""


def test_the_names_come_from_the_template() -> None:
    run = parse_template(MINIMAL).local_run
    assert run == LocalRun({"ecs": "APP_ECS_URL", "mns": "APP_QUEUE_URL"}, "APP_BUS", None, None, ("APP_ALLOW",))
    assert parse_template("Resources: {}").local_run == LocalRun()  # nothing declared: nothing set


def test_sgrules_template_declares_the_variables_its_settings_read() -> None:
    from sgrule.runtime.config import CommonSettings

    run = read_local_run(ROOT / "template.yml")
    assert set(run.endpoint_variables) == {"ecs", "eventbridge", "mns", "fc"}
    prefix = CommonSettings.model_config.get("env_prefix", "")
    fields = {prefix.upper() + name.upper() for name in CommonSettings.model_fields}
    named = [*run.endpoint_variables.values(), run.outcome_bus_variable, run.store_url_variable,
             run.change_queue_variable, *run.allow_list_variables]
    unknown = {n for n in named if n not in fields and n != "SGRULE_FC_ENDPOINT"}  # the FC client's is sgrule.client's
    assert not unknown, unknown


def test_a_local_invoke_finds_the_template_above_the_function(tmp_path: Path) -> None:
    (tmp_path / "functions" / "f").mkdir(parents=True)
    (tmp_path / "template.yml").write_text(MINIMAL, encoding="utf-8")
    assert local_run_for(tmp_path / "functions" / "f", cwd=tmp_path / "functions").outcome_bus_variable == "APP_BUS"
