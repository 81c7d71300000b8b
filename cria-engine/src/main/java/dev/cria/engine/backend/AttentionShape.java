package dev.cria.engine.backend;

/**
 * The shape of a causal self-attention call: q and out are {@code [batch, seq, heads, headDim]}, k
 * and v {@code [batch, seq, kvHeads, headDim]}, lse {@code [batch, heads, seq]}. Query head h reads
 * key/value head {@code h / (heads / kvHeads)}.
 */
public record AttentionShape(int batch, int seq, int heads, int kvHeads, int headDim) {
  public AttentionShape {
    if (batch < 1 || seq < 1 || heads < 1 || kvHeads < 1 || headDim < 1) {
      throw new IllegalArgumentException(
          "attention sizes must be positive: "
              + batch
              + " x "
              + seq
              + ", heads "
              + heads
              + ", kv heads "
              + kvHeads
              + ", head size "
              + headDim);
    }
    if (heads % kvHeads != 0) {
      throw new IllegalArgumentException(
          heads + " heads are not a multiple of " + kvHeads + " kv heads");
    }
  }

  /** Floats of q (and of the output). */
  public long queryFloats() {
    return (long) batch * seq * heads * headDim;
  }

  /** Floats of k (and of v). */
  public long keyFloats() {
    return (long) batch * seq * kvHeads * headDim;
  }
}
