/**
 * Training metrics as TensorBoard event files: TFRecord framing with masked CRC32C, and the
 * {@code Event}/{@code Summary} protobuf messages, written and read by cria's own code.
 */
package dev.cria.train.metrics;
