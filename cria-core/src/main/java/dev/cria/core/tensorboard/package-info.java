/**
 * TensorBoard's event file format, for the writer in cria-train and the readers (the board, the
 * tests): TFRecord framing with masked CRC-32C ({@link dev.cria.core.tensorboard.TfRecord}) and the
 * scalars of {@code Event}/{@code Summary} messages ({@link
 * dev.cria.core.tensorboard.TensorBoardEvents}).
 */
package dev.cria.core.tensorboard;
