"""The SOP vocabulary and the shipped JSON Schema as users load them."""

from __future__ import annotations

import jsonschema

import wflogging
from wflogging.schema import FIELD_ORDER


def test_status_values_are_the_sops_exact_spelling() -> None:
    """Status has exactly the SOP's three values, usable as plain strings."""
    assert [member.value for member in wflogging.Status] == ["Success", "Failed", "HIL-Paused"]
    assert isinstance(wflogging.Status.HIL_PAUSED, str)


def test_feedback_types_are_the_sops_examples() -> None:
    """FeedbackType spells the SOP's two interaction kinds."""
    assert {member.value for member in wflogging.FeedbackType} == {"HIL-Approval", "Manual-Step-Confirmation"}


def test_loaded_schema_is_a_valid_draft_2020_12_schema() -> None:
    """load_json_schema returns a draft 2020-12 schema whose $id carries SCHEMA_VERSION."""
    schema = wflogging.load_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(wflogging.SCHEMA_VERSION)


def test_schema_fields_are_the_sop_fields_in_order() -> None:
    """The schema requires the ten SOP fields, lists them in SOP order, and allows only extensions besides."""
    schema = wflogging.load_json_schema()
    assert tuple(schema["required"]) == FIELD_ORDER
    assert tuple(schema["properties"]) == (*FIELD_ORDER, "extensions")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["status"]["enum"] == [member.value for member in wflogging.Status]


def test_each_load_returns_a_fresh_copy() -> None:
    """Changing a loaded schema does not change the next one loaded."""
    wflogging.load_json_schema()["required"].clear()
    assert len(wflogging.load_json_schema()["required"]) == len(FIELD_ORDER)


def test_problem_reads_as_path_and_problem() -> None:
    """A Problem prints as 'path: problem', the form used in rejects and stderr lines."""
    assert str(wflogging.Problem("llm_trace[2].prompt", "expected a string")) == (
        "llm_trace[2].prompt: expected a string"
    )
