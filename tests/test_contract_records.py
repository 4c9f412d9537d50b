"""contracts.records: one typed record per event of the compiled contracts (HCFL and the
HCFLTraining it creates, whose events come in one stream), field for field."""

from __future__ import annotations

from dataclasses import fields

import pytest

from contracts import compiled
from contracts.records import EVENT_RECORDS, make_record

ABI_EVENTS = {i["name"]: [x["name"] for x in i["inputs"]] for i in compiled().abi + compiled().training.abi
              if i["type"] == "event"}


def test_no_event_name_is_in_both_contracts() -> None:
    both = [{i["name"] for i in abi if i["type"] == "event"} for abi in (compiled().abi, compiled().training.abi)]
    assert both[0] and both[1] and not both[0] & both[1]


def test_every_event_of_the_abi_has_a_record_and_no_record_is_stale() -> None:
    assert set(EVENT_RECORDS) == set(ABI_EVENTS)


@pytest.mark.parametrize("name", sorted(ABI_EVENTS))
def test_a_records_fields_are_the_events_arguments_in_order(name: str) -> None:
    assert [f.name for f in fields(EVENT_RECORDS[name])] == ABI_EVENTS[name]


def test_an_unknown_event_name_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="event: .*Nope"):
        make_record("Nope", {})
