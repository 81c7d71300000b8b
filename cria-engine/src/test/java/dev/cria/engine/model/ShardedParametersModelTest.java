package dev.cria.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.tensor.View;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A model whose parameters come a bucket at a time ({@link ParameterShards}, what ZeRO-3 gives it):
 * its own parameters read as NaN, and so does each bucket's values once released, so a pass that
 * read a parameter outside its acquire would end in NaN (or be refused). The passes give the bits
 * of the model that holds everything, in fp32 and bf16-mixed (whose bf16 copy holds one bucket,
 * rounded again on each acquire), with and without recompute, and ask for the buckets in the order
 * the trainer prefetches them.
 */
class ShardedParametersModelTest {
  static final LlamaConfig TINY = new LlamaConfig(36, 3, 6, 2, 70, 53, 1e-5f, 10000f, 16);
  static final int BATCH = 2;
  static final int SEQ = 9;
  static final int[] TOKENS = new SplittableRandom(1).ints(BATCH * SEQ, 0, 53).toArray();
  static final int[] TARGETS = new SplittableRandom(2).ints(BATCH * SEQ, 0, 53).toArray();

  /** Holds the true parameters aside, poisons the model's, and hands out copies of buckets. */
  static final class Poisoning implements ParameterShards {
    final MemorySegment truth;
    final List<String> calls = new ArrayList<>();
    final Arena arena = Arena.ofAuto();
    MemorySegment given;
    int held;
    int mostHeld;

    Poisoning(LlamaModel m) {
      MemorySegment model = m.parameters().segment();
      this.truth = MemorySegment.ofArray(new float[Math.toIntExact(m.layout().size())]);
      MemorySegment.copy(model, 0, truth, 0, model.byteSize());
      fill(model);
    }

    static void fill(MemorySegment s) {
      for (long i = 0; i < s.byteSize(); i += Float.BYTES) {
        s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i, Float.NaN);
      }
    }

    @Override
    public View acquire(ParameterLayout.Range bucket, ParameterLayout.Range next) {
      calls.add("+" + bucket.from() + (next == null ? "" : ">" + next.from()));
      given = arena.allocate(bucket.size() * Float.BYTES, 64);
      MemorySegment.copy(truth, bucket.from() * 4, given, 0, given.byteSize());
      mostHeld = Math.max(mostHeld, ++held);
      return View.f32(given, 0);
    }

    @Override
    public void release(ParameterLayout.Range bucket) {
      calls.add("-" + bucket.from());
      fill(given);
      held--;
    }
  }

  record Pass(double loss, float[] gradients) {}

  static Pass pass(Precision precision, boolean recompute, boolean sharded, List<String> calls) {
    try (Backend b = Backends.open("cpu", 2);
        LlamaModel m = new LlamaModel(TINY, b, BATCH, SEQ, recompute, precision)) {
      m.initialize(5, 0.1, true);
      Poisoning shards = sharded ? new Poisoning(m) : null;
      if (shards != null) {
        m.shardParameters(shards);
      }
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

  @Test
  void theBf16CopyHoldsOneLayerAndShardingComesBeforeTheFirstPass() {
    try (Backend b = Backends.open("cpu", 1);
        LlamaModel sharded = new LlamaModel(TINY, b, BATCH, SEQ, false, Precision.BF16_MIXED);
        LlamaModel whole = new LlamaModel(TINY, b, BATCH, SEQ, false, Precision.BF16_MIXED)) {
      sharded.initialize(5);
      sharded.shardParameters(new Poisoning(sharded));
      List<ParameterLayout.Range> buckets = sharded.layout().buckets();
      long largest = // past the embeddings (looked up in fp32): a layer, here
          buckets.subList(0, buckets.size() - 1).stream()
              .mapToLong(ParameterLayout.Range::size)
              .max()
              .orElseThrow();
      assertThat(sharded.computeCopyBytes())
          .isEqualTo(2 * largest)
          .isLessThan(whole.computeCopyBytes() / 2);
      long before = dev.cria.engine.backend.HostBuffers.liveBytes();
      sharded.forward(TOKENS, TARGETS, 1f);
      assertThat(dev.cria.engine.backend.HostBuffers.liveBytes() - before).isEqualTo(2 * largest);
      whole.initialize(5);
      whole.forward(TOKENS, TARGETS, 1f);
      assertThatThrownBy(() -> whole.shardParameters(new Poisoning(whole)))
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("the parameters are sharded before the first pass");
    }
  }
}
