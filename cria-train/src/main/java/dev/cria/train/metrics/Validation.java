package dev.cria.train.metrics;

/**
 * One validation: the mean loss over the first {@code batches} global batches of the valid split.
 *
 * @param step the optimizer steps taken when it ran
 * @param loss mean cross-entropy in nats ({@code val_loss})
 */
public record Validation(long step, double loss, int batches, double seconds) {}
