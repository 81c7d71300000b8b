/** {@code cria tokenizer}: encode, decode, inspect and train tokenizers. */
package dev.cria.cli.tokenizer;
