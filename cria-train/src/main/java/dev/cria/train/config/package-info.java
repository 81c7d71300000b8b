/**
 * The training config: {@link dev.cria.train.config.TrainConfig} (what a run is), read from YAML
 * and flags and written to {@code config.yaml} by {@link dev.cria.train.config.TrainConfigFile};
 * {@link dev.cria.train.config.ConfigLayers} merges a run's layers (defaults, the saved config, the
 * user's file in cria's layout or NeMo's, Hydra-style overrides, flags) and reports every mistake
 * at once; {@code NemoLayout} reads NeMo's Megatron GPT config with {@code Interpolations} and
 * {@code HydraOverrides}, {@link dev.cria.train.config.NemoRender} writes it back; {@link
 * dev.cria.train.config.ModelShape} turns the model section into the model's shape.
 */
package dev.cria.train.config;
