"""The participants that installed the `hcfl-tinynet` plugin (tests/test_hfl_plugins.py runs this in
a process whose path holds the plugin): an owner proposes its model, a station values it normally,
trains it on its own folder, and the owner judges the model file on its own held-out set; the same
model named on `python -m hfl`'s command line and listed by `hcfl models`. Prints what each saw as JSON.

    python -m tests.plugin_side WORK_FOLDER
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import torch


def main(work: Path) -> dict[str, object]:
    from hcfl_cli.agent_config import claims_for, config_from_dict, station_cost
    from hcfl_cli.agent_train import cannot_use, describe_job_fields, measure, train_config
    from hcfl_cli.documents import Description
    from hcfl_cli.commands import models as models_cmd
    from hfl.__main__ import build_parser, config_from_args
    from hfl.data import derive_seed
    from hfl.local_data import save_model, station_clients
    from hfl.train import init_state, station_update

    torch.set_num_threads(1)
    owner_data, station_data = work / "owner" / "data", work / "station" / "data"
    # The owner proposes the plugin's model on the data it holds (labels by class name).
    job = describe_job_fields("tinynet", None, ("circle", "triangle"), owner_data)
    doc = Description("tinynet", job["dataset"], job["labels"], 6000, 3, job["param_count"],
                      {"clients_per_station": 1, "kappa1": 5, "kappa1_unit": "steps", "lr": 0.05}, {}, "0xowner",
                      job["classes"], job["input"], job["plugin"])
    path = work / "proposal.json"
    path.write_bytes(doc.to_bytes())
    doc = Description.from_bytes(path.read_bytes())
    # A station that installed the plugin values it as any other proposal.
    station = config_from_dict({"role": "station", "deposit": 10**9, "data": str(station_data),
                                "valuation": {"cost_per_round": 7, "cost_per_million_params": 1000}},
                               work / "station" / "agent.toml")
    said: list[str] = []
    claims = claims_for(station, [doc], [path])
    # ... trains it on its own data (three global rounds of its one station) ...
    cfg = train_config(doc, 1)
    clients = station_clients(station_data, cfg, derive_seed(cfg.seed, 0))
    state = init_state(cfg)
    for r in range(cfg.global_rounds):
        state, _ = station_update(state, clients, cfg, r, 0)
    model = work / "model.pt"
    save_model(model, state, cfg)
    # ... and the owner, which has the plugin too, judges the model file on its held-out set.
    accuracy = measure(model, owner_data, doc.target_labels)
    # The same model by name on the command line, and in the list of what can be built here.
    named = config_from_args(build_parser().parse_args(["--model", "tinynet", "--data-dir", str(work / "shapes")]))
    parser = argparse.ArgumentParser()
    models_cmd.add_parser(parser.add_subparsers())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        listed = models_cmd.run(parser.parse_args(["models", "tinynet", "cnn", "--data-dir", str(work / "shapes")]))
    return {"doc": json.loads(path.read_text()), "cannot_use": cannot_use(doc, station_data, "station"),
            "claims": claims, "cost": station_cost(station.valuation, doc), "said": said,
            "config": cfg.to_dict(), "accuracy": accuracy, "named": named.to_dict(), "models_rc": listed,
            "models_out": out.getvalue()}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("work", type=Path)
    json.dump(main(p.parse_args().work), sys.stdout)
