/**
 * What a run reports, and where: {@link dev.cria.train.metrics.MetricsSink} is the one place the
 * trainer and the checkpoint schedule report to, fanned out to the rank log ({@link
 * dev.cria.train.metrics.RankLogSink}, {@code <run>/<rank>/log}), TensorBoard event files with
 * NeMo's metric names ({@link dev.cria.train.metrics.TensorBoardSink} over {@link
 * dev.cria.train.metrics.TensorBoardWriter}: TFRecord framing with masked CRC32C and the {@code
 * Event}/{@code Summary} protobuf messages, written and read back by cria's own code), the live
 * status file ({@link dev.cria.train.metrics.StatusSink}) and the console ({@link
 * dev.cria.train.metrics.TrainListener}).
 */
package dev.cria.train.metrics;
