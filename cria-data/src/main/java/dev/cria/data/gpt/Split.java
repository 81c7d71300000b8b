package dev.cria.data.gpt;

import java.util.Locale;

/** The three parts a dataset is divided into, in Megatron's order and with its names. */
public enum Split {
  TRAIN,
  VALID,
  TEST;

  /** Megatron's name: {@code train}, {@code valid} or {@code test}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
