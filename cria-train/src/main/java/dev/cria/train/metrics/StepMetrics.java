package dev.cria.train.metrics;

/**
 * What one optimizer step measured.
 *
 * @param step steps completed, this one included (NeMo's {@code global_step} after the update)
 * @param loss mean training loss over the global batch ({@code reduced_train_loss})
 * @param gradientNorm global gradient norm before clipping
 * @param parameterNorm global parameter norm after the update
 * @param consumedSamples samples of the global batches so far
 * @param stepSeconds wall time of this step ({@code train_step_timing})
 * @param communicationSeconds of that, the gradient reduce-scatter and parameter all-gather (0 for
 *     one rank)
 * @param exposedCommunicationSeconds of the communication, the time the step waited for it (not
 *     overlapped with the backward pass)
 * @param throughput samples per second over the last 10 steps ({@code throughput})
 * @param throughputPeak the best such window so far
 * @param tokensPerSec tokens per second over the last 10 steps
 * @param mfu model FLOP/s over the measured FMA peak
 * @param etaSeconds time left at the pace of the last steps (NaN after the first, which includes
 *     JIT warm-up)
 */
public record StepMetrics(
    long step,
    long maxSteps,
    double loss,
    double lr,
    double gradientNorm,
    double parameterNorm,
    long consumedSamples,
    double stepSeconds,
    double communicationSeconds,
    double exposedCommunicationSeconds,
    double throughput,
    double throughputPeak,
    double tokensPerSec,
    double mfu,
    double etaSeconds) {}
