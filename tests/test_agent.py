"""The agent's pieces that need no chain: its config and valuation, and the documents it
fetches (a file path or http, refused when the sha256 is not the chain's)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from hcfl_cli.agent_config import claims_for, config_from_dict, owner_value, read_config, station_cost
from hcfl_cli.documents import Description, DocumentError, FolderServer, fetch

DOC = Description("cnn", "digits", (0, 3, 7), 8000, 3, 2_500_000, {"kappa1": 2}, {"fleet_address": "h:1"}, "0xabc")


def _cfg(tmp_path: Path, **data: object):  # type: ignore[no-untyped-def]
    base = {"role": "owner", "deposit": 10, "valuation": {"value_per_label": [10**9] * 10}}
    return config_from_dict({**base, **data}, tmp_path / "agent.toml")


def test_an_owner_values_the_target_labels_times_the_promised_accuracy(tmp_path: Path) -> None:
    values = [100, 0, 0, 31, 0, 0, 0, 7, 0, 5]
    cfg = _cfg(tmp_path, valuation={"value_per_label": values})
    assert owner_value(cfg.valuation, DOC) == (100 + 31 + 7) * 8000 // 10_000
    assert claims_for(cfg, [DOC, DOC], [Path("a"), Path("b")]) == [110, 110]


def test_a_station_costs_per_global_round_and_per_million_parameters(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, role="station", valuation={"cost_per_round": 7, "cost_per_million_params": 4})
    assert station_cost(cfg.valuation, DOC) == 3 * (7 + 4 * 2_500_000 // 10**6)


def test_a_claims_program_gets_the_documents_and_prints_the_claims(tmp_path: Path) -> None:
    program = tmp_path / "claims.sh"
    program.write_text("#!/bin/sh\necho \"[$# , 42]\" | tr -d ' '\n")
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    cfg = _cfg(tmp_path, valuation={"claims_program": "claims.sh"})
    assert claims_for(cfg, [DOC, DOC], [Path("a"), Path("b")]) == [3, 42]  # role + two documents
    program.write_text("#!/bin/sh\necho 1\n")
    with pytest.raises(ValueError, match="claims_program: printed 1 claims for 2"):
        claims_for(cfg, [DOC, DOC], [Path("a"), Path("b")])


@pytest.mark.parametrize(("data", "field"), [
    ({"role": "miner"}, "role"),
    ({"deposit": -1}, "deposit"),
    ({"valuation": {}}, "valuation.value_per_label"),
    ({"proposal": {"labels": [256], "accuracy_bps": 1, "budget": 1, "bond": 1}}, "proposal.labels"),
    ({"proposal": {"labels": [1], "accuracy_bps": 10_001, "budget": 1, "bond": 1}}, "proposal.accuracy_bps"),
    ({"publish": "ftp"}, "publish"),
    ({"testing": {"over_report_bps": 20_000}}, "testing.over_report_bps"),
])
def test_a_bad_config_names_its_field(tmp_path: Path, data: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field.replace('.', '[.]')}:"):
        _cfg(tmp_path, **data)


def test_a_config_file_reads_with_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "party.toml").write_text('role = "station"\ndeposit = 5\ndata = "mine"\nticket = "t.json"\n'
                                         '[valuation]\ncost_per_round = 3\n')
    cfg = read_config(tmp_path / "party.toml")
    assert cfg.data == tmp_path / "mine" and cfg.ticket == tmp_path / "t.json" and cfg.name == "party"
    (tmp_path / "bad.toml").write_text("role = \n")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_config(tmp_path / "bad.toml")


def test_a_description_document_round_trips_and_its_label_mask_is_the_targets() -> None:
    again = Description.from_bytes(DOC.to_bytes())
    assert again == DOC and again.label_mask == 0b10001001
    with pytest.raises(DocumentError, match="not a description document"):
        Description.from_bytes(b'{"format": 1}')


def test_a_fetched_file_whose_sha256_differs_from_the_chains_is_refused_and_not_kept(tmp_path: Path) -> None:
    src = tmp_path / "model.pt"
    src.write_bytes(b"the reported model")
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "got" / "model.pt"
    assert fetch(str(src), good, dest).read_bytes() == b"the reported model"
    os.remove(dest)
    src.write_bytes(b"another model")
    with pytest.raises(DocumentError, match="refused"):
        fetch(src.as_uri(), good, dest)
    assert not dest.exists()


def test_a_published_folder_is_fetched_over_http_and_checked(tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    (public / "proposal 1.json").write_bytes(DOC.to_bytes())
    server = FolderServer(public).start()
    try:
        uri = server.url_of(public / "proposal 1.json")
        assert uri.startswith("http://127.0.0.1:")
        got = fetch(uri, hashlib.sha256(DOC.to_bytes()).hexdigest(), tmp_path / "doc.json")
        assert Description.from_bytes(got.read_bytes()) == DOC
        with pytest.raises(DocumentError, match="the chain says"):
            fetch(uri, "00" * 32, tmp_path / "other.json")
        with pytest.raises(DocumentError, match="cannot fetch"):
            fetch(uri + ".missing", "00" * 32, tmp_path / "missing.json")
    finally:
        server.stop()
