package dev.cria.engine.model;

import dev.cria.engine.tensor.DType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The collectives a model split over a tensor-parallel group calls in one micro-batch's forward and
 * backward pass ({@link LlamaModel}): each kind and size, and how many times. Without sequence
 * parallelism, an all-reduce of the residual's [tokens, hidden] floats after the embeddings and
 * after each layer's o and down products, and going back one after the LM head and after each
 * layer's q/k/v and gate/up products. With it, reduce-scatters and all-gathers of the same buffers
 * in their stead, the norms' outputs gathered again going back (in bf16 under mixed precision), and
 * a small all-reduce of each norm weight's gradient. Recompute repeats each layer's forward ones.
 * The vocabulary-parallel loss adds one all-gather of three floats a token and rank.
 *
 * <p>What {@code cria bench collective --layer} times, to say what a tensor-parallel step spends in
 * its collectives, the way {@link KernelShapes} names its products.
 *
 * @param collectives each kind and size, in the order a pass first calls it
 */
public record GroupTraffic(List<Collectives> collectives) {
  /** The operation names, as the collective benchmark names them. */
  public static final String ALL_REDUCE = "all-reduce";

  public static final String REDUCE_SCATTER = "reduce-scatter";
  public static final String ALL_GATHER = "all-gather";

  /**
   * {@code count} calls of {@code operation} on a buffer of {@code bytes} (the whole buffer, as the
   * benchmark sizes it).
   */
  public record Collectives(String operation, long bytes, int count) {}

  public GroupTraffic {
    collectives = List.copyOf(collectives);
  }

  /**
   * The collectives of a model of shape {@code c} split {@code tensorParallel} ways, for
   * micro-batches of {@code batch} x {@code seq} tokens; none for a whole model.
   */
  public static GroupTraffic of(
      LlamaConfig c,
      int batch,
      int seq,
      int tensorParallel,
      boolean sequenceParallel,
      boolean recompute,
      Precision precision) {
    Map<String, Collectives> calls = new LinkedHashMap<>();
    if (tensorParallel == 1) {
      return new GroupTraffic(List.of());
    }
    long tokens = (long) batch * seq;
    long residual = tokens * c.dim() * DType.F32.bytes();
    int layers = c.layers();
    int passes = recompute ? 2 : 1; // each layer's forward collectives, again with recompute
    if (!sequenceParallel) {
      add(calls, ALL_REDUCE, residual, 1 + 2 * layers * passes); // embeddings; o and down
      add(calls, ALL_GATHER, 3L * tensorParallel * tokens * DType.F32.bytes(), 1); // the loss
      add(calls, ALL_REDUCE, residual, 1 + 2 * layers); // the head; q/k/v and gate/up, back
      return new GroupTraffic(new ArrayList<>(calls.values()));
    }
    long normOutput =
        tokens * c.dim() * (precision.products() == dev.cria.engine.tensor.DType.BF16 ? 2 : 4);
    add(calls, REDUCE_SCATTER, residual, 1 + 2 * layers * passes); // embeddings; o and down
    // each norm's output before the products (and the final norm's), again going back
    add(calls, ALL_GATHER, normOutput, 2 * layers * passes + 1 + 2 * layers + 1);
    add(calls, ALL_GATHER, 3L * tensorParallel * tokens * DType.F32.bytes(), 1); // the loss
    add(calls, REDUCE_SCATTER, residual, 1 + 2 * layers); // the head; q/k/v and gate/up, back
    add(calls, ALL_REDUCE, (long) c.dim() * DType.F32.bytes(), 1 + 2 * layers); // norm weights
    add(
        calls,
        ALL_GATHER,
        residual,
        2 * layers + 1); // the residual's gradient, for down/o, embeddings
    return new GroupTraffic(new ArrayList<>(calls.values()));
  }

  private static void add(Map<String, Collectives> calls, String op, long bytes, int count) {
    calls.merge(
        op + " " + bytes,
        new Collectives(op, bytes, count),
        (a, b) -> new Collectives(op, bytes, a.count() + b.count()));
  }

  /** The distinct sizes, in bytes, for a benchmark to time. */
  public List<Long> sizes() {
    return collectives.stream().map(Collectives::bytes).distinct().sorted().toList();
  }

  /** Calls in a pass. */
  public int calls() {
    return collectives.stream().mapToInt(Collectives::count).sum();
  }

  /** Bytes of the buffers the pass's collectives work on, each call counted. */
  public long bytes() {
    return collectives.stream().mapToLong(k -> k.bytes() * k.count()).sum();
  }
}
