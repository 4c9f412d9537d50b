"""Hierarchical federated learning (HierFAVG) for HCFL: clients -> base stations -> the winning owner.

Public entry points (stable; the Flower app and the `hcfl` command build on them):
- `hfl.config.TrainConfig`, `labels_from_bitmask`, `resolve_labels`
- `hfl.models.build_model(name, ...)`, `catalogue(shape, classes)`: the small CNN, torchvision's
  classification models and installed `hcfl.models` plugins (`hfl.plugins`)
- `hfl.folders.describe_folder(dir)`, `read_split(dir, split)`: ImageFolder, CIFAR-10/100, MNIST,
  Fashion-MNIST, SVHN and .npz folders; `hfl.samples` writes small ones
- `hfl.data.build_federation(cfg, device)`, `load_folder`, `load_cifar10`, `write_fake_cifar10`, `partition`
- `hfl.aggregate.weighted_average(states, weights)`, `cloud_aggregate(station_results)`
- `hfl.train.station_update(global_state, station_clients, cfg, round_idx, station_idx)`,
  `evaluate(state, test, cfg)`, `init_state(cfg)`, `train(cfg, progress=...)`,
  `default_threads(cfg, device)`
- `hfl.contribution.contributions(station_states, station_weights, evaluate_fn, ...)`,
  `station_contributions(cfg, states, samples, evaluate_fn)`
- `hfl.result.TrainResult`, `write_result(result, out_dir)`
- `hfl.local_data`: a participant's own data folder (`write_data_folder`, `read_data_folder`),
  `split_for_localnet`, `station_clients(folder, cfg, station_seed)`, model files
  (`save_model`, `load_model`, `evaluate_model_file`, `file_sha256`)
"""

from hfl.config import ConfigError, TrainConfig, labels_from_bitmask

__all__ = ["ConfigError", "TrainConfig", "labels_from_bitmask"]
