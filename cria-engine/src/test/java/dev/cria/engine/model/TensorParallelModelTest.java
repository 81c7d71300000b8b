package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.io.SliceCopy;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.QuietGroup;
import dev.cria.engine.parallel.ThreadRanks;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A model split across a tensor-parallel group (ranks as threads, {@link ThreadRanks}) against the
 * same model whole: each rank holds its slice of the whole initialization bit for bit, and one
 * forward and backward pass gives every rank the whole model's loss and its slice of the whole
 * gradient, to the rounding of fp32 sums taken in another order.
 */
class TensorParallelModelTest {
  /** 6 heads and 6 kv heads: tensor parallelism 2, 3 and 6 divide them, 4 does not. */
  static final LlamaConfig MHA = new LlamaConfig(48, 2, 6, 6, 72, 60, 1e-5f, 10000f, 16);

  /** Grouped-query attention: 6 heads reading 3 kv heads; tensor parallelism 3 cuts both. */
  static final LlamaConfig GQA = new LlamaConfig(48, 2, 6, 3, 72, 60, 1e-5f, 10000f, 16);

  static final int BATCH = 2;
  static final int SEQ = 7;
  static final long SEED = 11;
  static final double STD = 0.2; // large enough that the logits, and so the loss, vary

  /** Tokens in every rank's vocabulary slice, and targets with some rows skipped (-1). */
  static final int[] TOKENS = new SplittableRandom(3).ints(BATCH * SEQ, 0, 60).toArray();

  static final int[] TARGETS = targets();

  private static int[] targets() {
    int[] t = new SplittableRandom(4).ints(BATCH * SEQ, 0, 60).toArray();
    t[2] = -1;
    t[9] = -1;
    return t;
  }

  /** What one rank (or the whole model) holds after one forward and backward pass. */
  record Pass(double loss, ParameterLayout layout, float[] parameters, float[] gradients) {}

  static Pass pass(LlamaConfig config, Collective group, boolean recompute, Precision precision) {
    return pass(config, group, recompute, precision, false, SEQ);
  }

  /**
   * As above, on the first {@code BATCH x seq} tokens, with the residual stream split along them
   * when {@code sequenceParallel}.
   */
  static Pass pass(
      LlamaConfig config,
      Collective group,
      boolean recompute,
      Precision precision,
      boolean sequenceParallel,
      int seq) {
    int n = BATCH * seq;
    try (Backend backend = Backends.open("cpu", 1);
        LlamaModel model =
            new LlamaModel(
                config, backend, BATCH, seq, recompute, precision, group, sequenceParallel)) {
      model.initialize(SEED, STD, true);
      float[] parameters = model.parameters().toArray(0, Math.toIntExact(model.layout().size()));
      model.zeroGradients();
      double loss =
          model.forward(
              java.util.Arrays.copyOf(TOKENS, n), java.util.Arrays.copyOf(TARGETS, n), 1f);
      model.backward();
      float[] gradients = model.gradients().toArray(0, Math.toIntExact(model.layout().size()));
      return new Pass(loss, model.layout(), parameters, gradients);
    }
  }

  static List<Pass> split(int parts, LlamaConfig config, boolean recompute, Precision precision)
      throws Exception {
    return ThreadRanks.run(parts, group -> pass(config, group, recompute, precision));
  }

  /**
   * The largest difference between rank {@code piece}'s values of each tensor and the whole model's
   * values at the same place, relative to that tensor's largest whole value.
   */
  static double worstRelativeDifference(
      Pass whole, float[] wholeValues, Pass piece, float[] pieceValues, StringBuilder where) {
    double worst = 0;
    for (ParameterLayout.Tensor t : piece.layout().tensors()) {
      ParameterLayout.Tensor w = whole.layout().tensor(t.name());
      double scale = 1e-12;
      for (long i = w.offset(); i < w.end(); i++) {
        scale = Math.max(scale, Math.abs(wholeValues[(int) i]));
      }
      int firstRow = piece.layout().firstRow(t);
      int firstCol = piece.layout().firstCol(t);
      for (int r = 0; r < t.rows(); r++) {
        for (int c = 0; c < t.cols(); c++) {
          float mine = pieceValues[(int) (t.offset() + (long) r * t.cols() + c)];
          float theirs =
              wholeValues[(int) (w.offset() + (long) (firstRow + r) * w.cols() + firstCol + c)];
          double difference = Math.abs(mine - theirs) / scale;
          if (difference > worst) {
            worst = difference;
            where.setLength(0);
            where.append(t.name()).append('[').append(r).append(", ").append(c).append(']');
          }
        }
      }
    }
    return worst;
  }

  @Test
  void eachRankHoldsItsSliceOfTheWholeModelsInitializationBitForBit() throws Exception {
    Pass whole = pass(MHA, Collective.single(), false, Precision.FP32);
    for (int parts : new int[] {2, 3, 6}) {
      List<Pass> ranks = split(parts, MHA, false, Precision.FP32);
      long held = 0;
      for (int r = 0; r < parts; r++) {
        Pass piece = ranks.get(r);
        StringBuilder where = new StringBuilder();
        assertThat(
                worstRelativeDifference(
                    whole, whole.parameters(), piece, piece.parameters(), where))
            .as("tp %d rank %d: %s", parts, r, where)
            .isZero();
        held += piece.layout().size();
      }
      long norms = (2L * MHA.layers() + 1) * MHA.dim();
      assertThat(held)
          .as("tp %d: the slices tile the model, the norms held by every rank", parts)
          .isEqualTo(whole.layout().size() + (parts - 1) * norms);
    }
  }

  /**
   * Every rank of {@code ranks} has the same loss, the whole model's within 1e-6, and its slice of
   * every gradient within 1e-5 of the whole model's.
   */
  static void assertEveryRankIsTheWholeModel(Pass whole, List<Pass> ranks, String what) {
    for (int r = 0; r < ranks.size(); r++) {
      Pass piece = ranks.get(r);
      String which = what + ", rank " + r;
      assertThat(piece.loss())
          .as("%s: the same loss on every rank", which)
          .isEqualTo(ranks.getFirst().loss());
      assertThat(Math.abs(piece.loss() - whole.loss()) / whole.loss())
          .as("%s: loss %s vs the whole model's %s", which, piece.loss(), whole.loss())
          .isLessThan(1e-6);
      StringBuilder where = new StringBuilder();
      assertThat(worstRelativeDifference(whole, whole.gradients(), piece, piece.gradients(), where))
          .as("%s: gradient at %s", which, where)
          .isLessThan(1e-5);
    }
  }

  @Test
  void everyRankGetsTheWholeModelsLossAndItsSliceOfTheGradient() throws Exception {
    for (LlamaConfig config : new LlamaConfig[] {MHA, GQA}) {
      Pass whole = pass(config, Collective.single(), false, Precision.FP32);
      assertThat(whole.loss()).as("a loss above chance's floor").isGreaterThan(1);
      for (int parts : new int[] {2, 3}) {
        if (config.kvHeads() % parts != 0) {
          continue;
        }
        assertEveryRankIsTheWholeModel(
            whole,
            split(parts, config, false, Precision.FP32),
            "kv heads " + config.kvHeads() + ", tp " + parts);
      }
    }
  }

  @Test
  void theSlicesPutInTheWholeLayoutMakeTheWholeModelAndComeBackOut() throws Exception {
    Pass whole = pass(GQA, Collective.single(), false, Precision.FP32);
    List<Pass> ranks = split(3, GQA, false, Precision.FP32);
    try (Arena arena = Arena.ofConfined()) {
      Floats assembled = Floats.allocate(arena, whole.layout().size());
      assembled.fill(Float.NaN);
      for (Pass piece : ranks) {
        SliceCopy.toWhole(piece.layout(), Floats.of(piece.parameters()), whole.layout(), assembled);
      }
      assertThat(assembled.toArray(0, whole.parameters().length))
          .as("every parameter placed, each where the whole model has it")
          .isEqualTo(whole.parameters());
      for (Pass piece : ranks) {
        Floats back = Floats.allocate(arena, piece.layout().size());
        SliceCopy.fromWhole(whole.layout(), Floats.of(whole.parameters()), piece.layout(), back);
        assertThat(back.toArray(0, piece.parameters().length)).isEqualTo(piece.parameters());
        // a tensor at a time (a checkpoint read without the whole model): the same floats
        for (ParameterLayout.Tensor t : piece.layout().tensors()) {
          ParameterLayout.Tensor w = whole.layout().tensor(t.name());
          Floats one = Floats.allocate(arena, t.size());
          SliceCopy.fromWholeTensor(
              piece.layout(),
              t,
              w,
              Floats.of(whole.parameters()).segment().asSlice(w.offset() * 4, w.size() * 4),
              one.segment());
          assertThat(one.toArray(0, (int) t.size()))
              .as(t.name())
              .isEqualTo(back.toArray(t.offset(), (int) t.size()));
        }
      }
    }
    assertThatThrownBy(() ->
            SliceCopy.fromWhole(
                ranks.get(1).layout(),
                Floats.of(ranks.get(1).parameters()),
                ranks.get(0).layout(),
                Floats.of(ranks.get(0).parameters())))
        .hasMessageContaining("needs the whole layout");
  }

  @Test
  void theGroupsGradientNormCountsTheNormsOnceAndSumsTheSlices() throws Exception {
    Pass whole = pass(MHA, Collective.single(), false, Precision.FP32);
    double expected = 0;
    for (float g : whole.gradients()) {
      expected += (double) g * g;
    }
    List<double[]> squares =
        ThreadRanks.run(
            3,
            group -> {
              try (Backend backend = Backends.open("cpu", 1);
                  LlamaModel model =
                      new LlamaModel(MHA, backend, BATCH, SEQ, false, Precision.FP32, group)) {
                model.initialize(SEED, STD, true);
                model.zeroGradients();
                model.forward(TOKENS, TARGETS, 1f);
                model.backward();
                double all = 0;
                for (float g : model.gradients().toArray(0, (int) model.layout().size())) {
                  all += (double) g * g;
                }
                return new double[] {all, model.replicatedSquares(model.gradients())};
              }
            });
    double once = squares.getFirst()[1];
    assertThat(once).isPositive();
    double total = once;
    for (double[] rank : squares) {
      assertThat(rank[1]).as("the norms' squares, the same on every rank").isEqualTo(once);
      total += rank[0] - rank[1];
    }
    assertThat(total).isCloseTo(expected, org.assertj.core.data.Percentage.withPercentage(1e-3));
  }

  @Test
  void recomputeGivesTheSameBitsUnderTensorParallelism() throws Exception {
    List<Pass> kept = split(3, GQA, false, Precision.FP32);
    List<Pass> recomputed = split(3, GQA, true, Precision.FP32);
    for (int r = 0; r < 3; r++) {
      assertThat(recomputed.get(r).loss()).isEqualTo(kept.get(r).loss());
      assertThat(recomputed.get(r).gradients()).as("rank %d", r).isEqualTo(kept.get(r).gradients());
    }
  }

  @Test
  void bf16MixedSplitStaysWithinBf16sRoundingOfTheWholeModel() throws Exception {
    Pass whole = pass(MHA, Collective.single(), false, Precision.BF16_MIXED);
    List<Pass> ranks = split(2, MHA, false, Precision.BF16_MIXED);
    for (int r = 0; r < 2; r++) {
      Pass piece = ranks.get(r);
      assertThat(Math.abs(piece.loss() - whole.loss()) / whole.loss())
          .as("rank %d: loss %s vs %s", r, piece.loss(), whole.loss())
          .isLessThan(1e-3);
      StringBuilder where = new StringBuilder();
      assertThat(worstRelativeDifference(whole, whole.gradients(), piece, piece.gradients(), where))
          .as("rank %d: gradient at %s", r, where)
          .isLessThan(2e-2);
    }
  }

  /** 2 x 6 tokens: tensor parallelism 2, 3 and 6 divide them. */
  static final int SP_SEQ = 6;

  static List<Pass> sequenceParallel(
      int parts, LlamaConfig config, boolean recompute, Precision precision) throws Exception {
    return ThreadRanks.run(parts, group -> pass(config, group, recompute, precision, true, SP_SEQ));
  }

  @Test
  void withTheResidualSplitAlongTheTokensEveryRankGetsTheWholeModelsLossAndGradient()
      throws Exception {
    for (LlamaConfig config : new LlamaConfig[] {MHA, GQA}) {
      Pass whole = pass(config, Collective.single(), false, Precision.FP32, false, SP_SEQ);
      for (int parts : new int[] {2, 3, 6}) {
        if (config.kvHeads() % parts != 0) {
          continue;
        }
        // the norms' weights included: each rank's rows give part of their gradient, summed
        assertEveryRankIsTheWholeModel(
            whole,
            sequenceParallel(parts, config, false, Precision.FP32),
            "kv heads " + config.kvHeads() + ", tp " + parts + " + sp");
      }
    }
  }

  @Test
  void sequenceParallelismKeepsLessAndRecomputesTheSameBits() throws Exception {
    List<Pass> kept = sequenceParallel(3, GQA, false, Precision.FP32);
    List<Pass> recomputed = sequenceParallel(3, GQA, true, Precision.FP32);
    for (int r = 0; r < 3; r++) {
      assertThat(recomputed.get(r).loss()).isEqualTo(kept.get(r).loss());
      assertThat(recomputed.get(r).gradients()).as("rank %d", r).isEqualTo(kept.get(r).gradients());
    }
    ModelSlice third = new ModelSlice(3, 0);
    long plain = LlamaModel.bytesNeeded(GQA, BATCH, SP_SEQ, false, third, false);
    long split = LlamaModel.bytesNeeded(GQA, BATCH, SP_SEQ, false, third, true);
    // each layer keeps 2/3 fewer rows of its input, two norms' outputs and the attention's
    // residual (4 x [12, 48] -> [4, 48]), less the gather and scatter buffers ([12, 48] each)
    int d = GQA.dim();
    long rows = BATCH * SP_SEQ;
    long perLayer = 4 * (rows - rows / 3) * d + 2 * (rows - rows / 3);
    long once = (rows - rows / 3) * d * 3 + (rows - rows / 3); // final norm, its input, dh
    long added = 2 * rows * d + d;
    assertThat(plain - split).isEqualTo((GQA.layers() * perLayer + once - added) * Float.BYTES);
  }

  @Test
  void bf16MixedWithSequenceParallelismStaysWithinBf16sRoundingOfTheWholeModel() throws Exception {
    Pass whole = pass(MHA, Collective.single(), false, Precision.BF16_MIXED, false, SP_SEQ);
    List<Pass> ranks = sequenceParallel(2, MHA, false, Precision.BF16_MIXED);
    for (int r = 0; r < 2; r++) {
      Pass piece = ranks.get(r);
      assertThat(Math.abs(piece.loss() - whole.loss()) / whole.loss())
          .as("rank %d: loss %s vs %s", r, piece.loss(), whole.loss())
          .isLessThan(1e-3);
      StringBuilder where = new StringBuilder();
      assertThat(worstRelativeDifference(whole, whole.gradients(), piece, piece.gradients(), where))
          .as("rank %d: gradient at %s", r, where)
          .isLessThan(2e-2);
    }
  }

  @Test
  void sequenceParallelismOverTokensTheGroupDoesNotDivideIsRefusedWithTheNumbers() {
    assertThatThrownBy(() ->
            ThreadRanks.run(
                3, group -> pass(MHA, group, false, Precision.FP32, true, SEQ))) // 14 tokens
        .hasStackTraceContaining(
            "sequence parallelism: the tensor-parallel size 3 does not divide the micro-batch's 14"
                + " tokens (micro-batch 2 x sequence length 7)");
  }

  /** A group of two whose shards are not blocks of rows (as a multi-host transport's may be). */
  static final class UnevenShards extends QuietGroup {
    UnevenShards() {
      super(0, 2, "uneven");
    }

    @Override
    public Shard shard(long count, int r) {
      return r == 0 ? new Shard(0, count / 2 + 1) : new Shard(count / 2 + 1, count);
    }
  }

  @Test
  void aModelItsGroupRefusesLeavesNothingAllocated() {
    long before = HostBuffers.liveBytes();
    try (Backend backend = Backends.open("cpu", 1)) {
      assertThatThrownBy(() ->
              new LlamaModel(
                  MHA, backend, BATCH, SEQ + 1, false, Precision.FP32, new UnevenShards(), true))
          .hasMessageContaining("uneven shards a buffer otherwise than in blocks of rows");
    }
    assertThat(HostBuffers.liveBytes()).isEqualTo(before);
  }

  @Test
  void aTensorParallelSizeThatDoesNotDivideTheModelIsRefusedWithTheNumbers() {
    assertThatThrownBy(() -> new ParameterLayout(MHA, new ModelSlice(4, 1)))
        .hasMessageContaining("tensor parallelism 4 does not divide the model's 6 attention heads");
    assertThatThrownBy(() -> new ParameterLayout(GQA, new ModelSlice(2, 0)))
        .hasMessageContaining("tensor parallelism 2 does not divide the model's 3 key/value heads");
    assertThatThrownBy(() -> new ParameterLayout(MHA.withVocabSize(61), new ModelSlice(2, 0)))
        .hasMessageContaining("61 vocabulary entries");
    LlamaConfig oddFfn = new LlamaConfig(48, 2, 6, 6, 75, 60, 1e-5f, 10000f, 16);
    assertThatThrownBy(() -> new ParameterLayout(oddFfn, new ModelSlice(2, 0)))
        .hasMessageContaining("75 MLP hidden units");
    assertThatThrownBy(() -> new ModelSlice(2, 2)).hasMessageContaining("slice 2 of 2");
  }

  @Test
  void theLogitsOfASplitModelAreNotHandedOutAsIfWhole() throws Exception {
    List<String> messages =
        ThreadRanks.run(
            2,
            group -> {
              try (Backend backend = Backends.open("cpu", 1);
                  LlamaModel model =
                      new LlamaModel(MHA, backend, BATCH, SEQ, false, Precision.FP32, group)) {
                model.initialize(SEED);
                model.forward(TOKENS, null, 1f);
                try {
                  model.logits();
                  return "handed out";
                } catch (IllegalStateException e) {
                  return e.getMessage();
                }
              }
            });
    assertThat(messages).allMatch(m -> m.contains("split across the tensor-parallel group"));
  }
}
