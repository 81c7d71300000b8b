package dev.cria.train;

import java.nio.file.Path;

/**
 * How a run ended.
 *
 * @param steps optimizer steps completed
 * @param lastLoss training loss of the last step (NaN when none ran)
 * @param lastValidationLoss loss of the last validation (NaN when none ran)
 * @param stopped whether a stop request ended the run before {@code max_steps}
 * @param seconds wall time of the loop
 * @param tensorBoardFile the event file written
 * @param resumedFrom the step the run resumed at (0 for a fresh start)
 * @param lastCheckpoint the newest checkpoint saved by this run, or null
 */
public record TrainResult(
    long steps,
    double lastLoss,
    double lastValidationLoss,
    boolean stopped,
    double seconds,
    Path tensorBoardFile,
    long resumedFrom,
    Path lastCheckpoint) {}
