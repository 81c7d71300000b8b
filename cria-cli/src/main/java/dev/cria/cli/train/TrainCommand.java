package dev.cria.cli.train;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cria train}: NeMo's {@code megatron_gpt_pretraining} on one machine, in this process or in
 * {@code --nproc} local workers.
 */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Train a Llama model on a prepared dataset (.bin/.idx from cria prepare).",
      "",
      "The config comes from defaults, then --config FILE (cria's YAML or NeMo's Megatron GPT config),"
          + " then KEY=VALUE overrides of the file's keys (Hydra's syntax), then these flags. The run"
          + " directory gets config.yaml, 0/log (a line per step), TensorBoard event files with NeMo's"
          + " metric names and checkpoints/step-N. Samples come in Megatron-Core's GPTDataset order."
          + " Ctrl-C or SIGTERM stops after the current step and saves a checkpoint.",
      "",
      "A run directory that holds a run is continued: its config.yaml is the base of the config, and training"
          + " resumes from its newest valid checkpoint, exactly where it was.",
      ""
    })
public final class TrainCommand extends RankCommand {
  @Option(
      names = "--nproc",
      paramLabel = "N",
      defaultValue = "1",
      description = "Worker processes on this machine, data-parallel (default: 1, this process).")
  int nproc;

  @Override
  protected boolean isWorker() {
    return false;
  }

  @Override
  protected int processes() {
    return nproc;
  }
}
