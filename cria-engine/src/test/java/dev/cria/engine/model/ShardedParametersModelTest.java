package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A model whose parameters come and go a bucket at a time ({@link LlamaModel.ParameterShards}, what
 * ZeRO-3 gives it): every parameter outside the bucket in use reads as NaN, and so does a released
 * bucket's bf16 copy, so a pass that read one outside its acquire would end in NaN. The passes give
 * the bits of the model that holds everything, in fp32 and bf16-mixed, with and without recompute,
 * and ask for the buckets in the order the trainer prefetches them.
 */
class ShardedParametersModelTest {
  static final LlamaConfig TINY = new LlamaConfig(36, 3, 6, 2, 70, 53, 1e-5f, 10000f, 16);
  static final int BATCH = 2;
  static final int SEQ = 9;
  static final int[] TOKENS = new SplittableRandom(1).ints(BATCH * SEQ, 0, 53).toArray();
  static final int[] TARGETS = new SplittableRandom(2).ints(BATCH * SEQ, 0, 53).toArray();

  /** Holds the true parameters aside and poisons the model's copy outside what is acquired. */
  static final class Poisoning implements LlamaModel.ParameterShards {
    final MemorySegment model;
    final MemorySegment truth;
    final List<String> calls = new ArrayList<>();
    int held;
    int mostHeld;

    Poisoning(LlamaModel m) {
      this.model = m.parameters().segment();
      this.truth = MemorySegment.ofArray(new float[Math.toIntExact(m.layout().size())]);
      MemorySegment.copy(model, 0, truth, 0, model.byteSize());
      fill(model, 0, model.byteSize());
    }

    static void fill(MemorySegment s, long from, long bytes) {
      for (long i = from; i < from + bytes; i += Float.BYTES) {
        s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i, Float.NaN);
      }
    }

    @Override
    public void acquire(ParameterLayout.Range bucket, ParameterLayout.Range next) {
      calls.add("+" + bucket.from() + (next == null ? "" : ">" + next.from()));
      MemorySegment.copy(
          truth, bucket.from() * 4, model, bucket.from() * 4, bucket.size() * Float.BYTES);
      mostHeld = Math.max(mostHeld, ++held);
    }

    @Override
    public void release(ParameterLayout.Range bucket, MemorySegment computeCopy) {
      calls.add("-" + bucket.from());
      fill(model, bucket.from() * 4, bucket.size() * Float.BYTES);
      if (computeCopy != null) {
        computeCopy.fill((byte) 0xff); // bf16 NaNs
      }
      held--;
    }
  }

  record Pass(double loss, float[] gradients) {}

  static Pass pass(Precision precision, boolean recompute, boolean sharded, List<String> calls) {
    try (Backend b = Backends.open("cpu", 2);
        LlamaModel m = new LlamaModel(TINY, b, BATCH, SEQ, recompute, precision)) {
      m.initialize(5, 0.1, true);
      Poisoning shards = sharded ? new Poisoning(m) : null;
      m.shardParameters(shards);
      double loss = 0;
      for (int i = 0; i < 2; i++) { // twice: the second pass must not lean on the first's copies
        m.zeroGradients();
        loss = m.forward(TOKENS, TARGETS, 1f);
        m.backward();
      }
      if (shards != null) {
        assertThat(shards.held).as("every bucket given back").isZero();
        assertThat(shards.mostHeld).as("one bucket at a time in the model's hands").isEqualTo(1);
        calls.addAll(shards.calls);
      }
      return new Pass(loss, m.gradients().toArray(0, Math.toIntExact(m.layout().size())));
    }
  }

  @Test
  void passesOverParametersThatComeAndGoGiveTheBitsOfTheWholeModel() {
    for (Precision precision : new Precision[] {Precision.FP32, Precision.BF16_MIXED}) {
      for (boolean recompute : new boolean[] {false, true}) {
        Pass whole = pass(precision, recompute, false, new ArrayList<>());
        Pass sharded = pass(precision, recompute, true, new ArrayList<>());
        assertThat(sharded.loss())
            .as("%s, recompute %s", precision, recompute)
            .isEqualTo(whole.loss());
        assertThat(sharded.gradients())
            .as("%s, recompute %s", precision, recompute)
            .containsExactly(whole.gradients());
      }
    }
  }

  @Test
  void theForwardTakesEveryBucketUpwardsAndTheBackwardTheHeadAndLayersDownwards() {
    List<String> calls = new ArrayList<>();
    pass(Precision.FP32, false, true, calls);
    ParameterLayout layout = new ParameterLayout(TINY);
    List<ParameterLayout.Range> b = layout.buckets(); // head, layer 2, 1, 0, embeddings
    long head = b.get(0).from();
    long l2 = b.get(1).from();
    long l1 = b.get(2).from();
    long l0 = b.get(3).from();
    List<String> forward =
        List.of(
            "+0>" + l0, "-0",
            "+" + l0 + ">" + l1, "-" + l0,
            "+" + l1 + ">" + l2, "-" + l1,
            "+" + l2 + ">" + head, "-" + l2,
            "+" + head, "-" + head);
    List<String> backward =
        List.of(
            "+" + head + ">" + l2, "-" + head,
            "+" + l2 + ">" + l1, "-" + l2,
            "+" + l1 + ">" + l0, "-" + l1,
            "+" + l0, "-" + l0);
    List<String> one = new ArrayList<>(forward);
    one.addAll(backward);
    List<String> both = new ArrayList<>(one);
    both.addAll(one);
    assertThat(calls).isEqualTo(both);
  }
}
