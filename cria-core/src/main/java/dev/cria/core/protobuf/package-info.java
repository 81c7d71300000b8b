/**
 * The protobuf wire format, hand-written: SentencePiece models and TensorBoard events need no more.
 */
package dev.cria.core.protobuf;
