package dev.cria.train.checkpoint;

import java.nio.file.Path;

/**
 * Where a run's weights come from.
 *
 * @param resume continue from the newest valid checkpoint of the run directory, when it has one
 * @param resumeFrom continue from this checkpoint ({@code step-N} directory or a run directory)
 *     instead; null for none
 * @param initFrom a Hugging Face Llama directory (config.json, safetensors) to start from at step 0
 *     instead of random weights; null for none
 * @param writeInitialWeights also write the starting weights there (F32 safetensors), so another
 *     implementation can start from the same point; null for none
 * @param startOver when every checkpoint of the run directory is damaged, train from step 0 anyway
 *     (they are set aside as {@code abandoned-step-N}) instead of refusing
 */
public record TrainStart(
    boolean resume, Path resumeFrom, Path initFrom, Path writeInitialWeights, boolean startOver) {
  public TrainStart {
    if (resumeFrom != null && initFrom != null) {
      throw new IllegalArgumentException(
          "resume from a checkpoint or initialize from a model, not both");
    }
  }

  /** Without {@code startOver}: a run whose checkpoints are all damaged is refused. */
  public TrainStart(boolean resume, Path resumeFrom, Path initFrom, Path writeInitialWeights) {
    this(resume, resumeFrom, initFrom, writeInitialWeights, false);
  }

  /** Random initial weights, no resuming. */
  public static TrainStart fresh() {
    return new TrainStart(false, null, null, null);
  }

  /** The newest valid checkpoint of the run directory, or random weights when it has none. */
  public static TrainStart resumeIfPossible() {
    return new TrainStart(true, null, null, null);
  }
}
