/**
 * The training config: {@link dev.cria.train.config.TrainConfig} (what a run is), read from YAML
 * and flags and written to {@code config.yaml} by {@link dev.cria.train.config.TrainConfigFile};
 * {@link dev.cria.train.config.ModelShape} turns its model section into the model's shape.
 */
package dev.cria.train.config;
