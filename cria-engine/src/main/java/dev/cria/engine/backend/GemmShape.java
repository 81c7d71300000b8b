package dev.cria.engine.backend;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One matrix product's shape, {@code C[m,n] = op(A)[m,k] op(B)[k,n]}, with which operands are
 * stored transposed: what a tuned kernel is chosen for.
 *
 * @param transA whether A is stored {@code k x m}
 * @param transB whether B is stored {@code n x k}
 */
public record GemmShape(boolean transA, boolean transB, int m, int n, int k) {
  private static final Pattern TEXT =
      Pattern.compile("([NT])([NT]) (\\d{1,10})x(\\d{1,10})x(\\d{1,10})");

  public GemmShape {
    if (m < 1 || n < 1 || k < 1) {
      throw new IllegalArgumentException(
          "a GEMM shape needs m, n, k >= 1: " + m + "x" + n + "x" + k);
    }
  }

  /**
   * The products of a linear layer {@code y[tokens,out] = x[tokens,in] W[out,in]^T}, as {@link
   * Kernels#linearForward} and {@link Kernels#linearBackward} compute them.
   */
  public enum LinearProduct {
    /** {@code y = x W^T}. */
    FORWARD,
    /** {@code dx = dy W}. */
    INPUT_GRADIENT,
    /** {@code dW += dy^T x}. */
    WEIGHT_GRADIENT;

    /** This product's shape for a layer of {@code in -> out} features on {@code tokens} rows. */
    public GemmShape shape(int tokens, int in, int out) {
      return switch (this) {
        case FORWARD -> new GemmShape(false, true, tokens, out, in);
        case INPUT_GRADIENT -> new GemmShape(false, false, tokens, in, out);
        case WEIGHT_GRADIENT -> new GemmShape(true, false, out, in, tokens);
      };
    }
  }

  /** The three products of a linear layer ({@link LinearProduct}), in their order. */
  public static List<GemmShape> ofLinear(int tokens, int in, int out) {
    return java.util.Arrays.stream(LinearProduct.values())
        .map(p -> p.shape(tokens, in, out))
        .toList();
  }

  /** Multiply-adds times two. */
  public double flops() {
    return 2.0 * m * n * k;
  }

  /** {@code NT 2048x512x512}: the transposes of A and B, then m x n x k. */
  @Override
  public String toString() {
    return String.format(
        Locale.ROOT, "%s%s %dx%dx%d", transA ? "T" : "N", transB ? "T" : "N", m, n, k);
  }

  /**
   * The shape {@link #toString} wrote.
   *
   * @throws IllegalArgumentException naming the text when it is not one
   */
  public static GemmShape parse(String text) {
    Matcher matcher = TEXT.matcher(text == null ? "" : text.strip());
    if (!matcher.matches()) {
      throw new IllegalArgumentException(
          "not a GEMM shape (expected e.g. NT 2048x512x512): '" + text + "'");
    }
    try {
      return new GemmShape(
          matcher.group(1).equals("T"),
          matcher.group(2).equals("T"),
          Integer.parseInt(matcher.group(3)),
          Integer.parseInt(matcher.group(4)),
          Integer.parseInt(matcher.group(5)));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("GEMM shape out of range: '" + text + "'", e);
    }
  }
}
