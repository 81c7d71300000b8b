package dev.cria.engine.backend;

/**
 * The cosines and sines of RoPE for positions [0, seq) and frequency pairs [0, hd/2): angle(t, j) =
 * t * theta^(-2j/hd), computed in float like PyTorch's reference.
 */
public final class RopeTable {
  private final int seq;
  private final int half;
  private final float[] cos;
  private final float[] sin;

  public RopeTable(int seq, int headDim, float theta) {
    this.seq = seq;
    this.half = headDim / 2;
    this.cos = new float[seq * half];
    this.sin = new float[seq * half];
    for (int j = 0; j < half; j++) {
      float inverseFrequency = (float) (1.0 / Math.pow(theta, (2.0 * j) / headDim));
      for (int t = 0; t < seq; t++) {
        float angle = t * inverseFrequency;
        cos[t * half + j] = (float) Math.cos(angle);
        sin[t * half + j] = (float) Math.sin(angle);
      }
    }
  }

  public int seq() {
    return seq;
  }

  /** hd / 2. */
  public int half() {
    return half;
  }

  public float cos(int t, int j) {
    return cos[t * half + j];
  }

  public float sin(int t, int j) {
    return sin[t * half + j];
  }

  /** The cosine row of position t: {@code [t * half, (t + 1) * half)}. */
  public float[] cosArray() {
    return cos;
  }

  public float[] sinArray() {
    return sin;
  }
}
