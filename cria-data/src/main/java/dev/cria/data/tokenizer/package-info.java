/**
 * Llama-family BPE tokenizers, bit-exact with SentencePiece.
 *
 * <p>{@link dev.cria.data.tokenizer.Tokenizers#load} reads a SentencePiece {@code tokenizer.model}
 * or a Hugging Face {@code tokenizer.json} into one {@link dev.cria.data.tokenizer.Tokenizer};
 * {@link dev.cria.data.tokenizer.BpeTrainer} makes a new one from a corpus. Both file forms give
 * the same ids as SentencePiece for the same vocabulary.
 */
package dev.cria.data.tokenizer;
