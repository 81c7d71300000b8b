package dev.cria.train.distributed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.parallel.CollectiveException;
import dev.cria.engine.tensor.Floats;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The buckets of rank 1 of 3 on a group that records: which slices are reduced and gathered, in
 * which order, what ZeRO-2 keeps, and how a failure or an interrupt reaches the training thread.
 */
class GradientBucketsTest {
  static final LlamaConfig SHAPE = new LlamaConfig(16, 2, 2, 2, 32, 400, 1e-5f, 10000f, 8);

  final ParameterLayout layout = new ParameterLayout(SHAPE);
  final List<ParameterLayout.Range> layers = layout.buckets(); // head, layer 1, layer 0, embeddings
  Arena arena;
  Floats gradients;
  RecordingGroup group = new RecordingGroup(1, 3);

  @BeforeEach
  void setUp() {
    arena = Arena.ofShared();
    gradients = Floats.allocate(arena, layout.size());
    group.base = gradients.segment();
  }

  @AfterEach
  void tearDown() {
    arena.close();
  }

  /** Rank 1's shard of {@code b}, counted by hand: [b + size*1/3, b + size*2/3). */
  private static ParameterLayout.Range own(ParameterLayout.Range b) {
    return new ParameterLayout.Range(b.from() + b.size() / 3, b.from() + 2 * b.size() / 3);
  }

  private static String slice(String op, ParameterLayout.Range b) {
    return op + " " + b.from() * 4 + "+" + b.size() * 4 + " " + b.size();
  }

  @Test
  void settingsAreStageOneTwoOrThreeAndABucketSizeNotBelowZero() {
    assertThat(GradientBuckets.Settings.DEFAULT).isEqualTo(new GradientBuckets.Settings(1, 0));
    for (int stage : new int[] {0, 4}) {
      assertThatThrownBy(() -> new GradientBuckets.Settings(stage, 0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("ZeRO stage " + stage + ": cria has stages 1, 2 and 3");
    }
    assertThat(new GradientBuckets.Settings(1, 0).shardsGradients()).isFalse();
    assertThat(new GradientBuckets.Settings(2, 0).shardsGradients()).isTrue();
    assertThat(new GradientBuckets.Settings(2, 0).shardsParameters()).isFalse();
    assertThat(new GradientBuckets.Settings(3, 0).shardsGradients()).isTrue();
    assertThat(new GradientBuckets.Settings(3, 0).shardsParameters()).isTrue();
    assertThatThrownBy(() -> new GradientBuckets.Settings(1, -1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("a bucket size of -1 bytes");
    assertThat(new GradientBuckets.Settings(2, 1).capBytes()).isEqualTo(1);
  }

  @Test
  void eachBucketIsALayerUnlessASizeJoinsThemAndThisRanksShardIsItsThird() {
    assertThat(layers).hasSize(4);
    try (GradientBuckets b = new GradientBuckets(layout, gradients, group)) {
      assertThat(b.settings()).isEqualTo(GradientBuckets.Settings.DEFAULT);
      assertThat(b.buckets()).isEqualTo(layers);
      assertThat(b.shards()).containsExactlyElementsOf(layers.stream().map(r -> own(r)).toList());
    }
    long cap = layers.get(1).size() + 1; // the head alone, the two layers together
    assertThat(layers.get(0).size()).isGreaterThanOrEqualTo(cap);
    try (GradientBuckets b =
        new GradientBuckets(layout, gradients, group, new GradientBuckets.Settings(1, cap * 4))) {
      ParameterLayout.Range joined =
          new ParameterLayout.Range(layers.get(2).from(), layers.get(1).to());
      assertThat(b.buckets()).containsExactly(layers.get(0), joined, layers.get(3));
      assertThat(b.shards()).containsExactly(own(layers.get(0)), own(joined), own(layers.get(3)));
    }
  }

  @Test
  void aBucketIsReduceScatteredOnceItsLowestLayerIsFinalAndAwaitedBeforeTheUpdate() {
    long cap = layers.get(1).size() + 1;
    ParameterLayout.Range joined =
        new ParameterLayout.Range(layers.get(2).from(), layers.get(1).to());
    try (GradientBuckets b =
        new GradientBuckets(layout, gradients, group, new GradientBuckets.Settings(1, cap * 4))) {
      b.reduceWhenReady(layers.get(0).from(), layers.get(0).to());
      b.reduceWhenReady(layers.get(1).from(), layers.get(1).to()); // half a bucket: nothing yet
      b.reduceWhenReady(layers.get(2).from(), layers.get(2).to());
      b.reduceWhenReady(layers.get(3).from(), layers.get(3).to());
      b.awaitReductions();
      assertThat(group.calls())
          .containsExactly(
              slice("reduceScatterSum", layers.get(0)),
              slice("reduceScatterSum", joined),
              slice("reduceScatterSum", layers.get(3)));
      assertThat(b.reductionSeconds()).isGreaterThan(0);
      assertThat(b.reductionSeconds()).isZero();
      assertThat(b.waitSeconds()).isGreaterThan(0);
      assertThat(b.waitSeconds()).isZero();
    }
  }

  private void fillGradients(float v) {
    gradients.fill(v);
  }

  private void assertGradients(ParameterLayout.Range b, float inShard, float outside) {
    ParameterLayout.Range own = own(b);
    for (long i = b.from(); i < b.to(); i++) {
      float expected = i >= own.from() && i < own.to() ? inShard : outside;
      if (gradients.get(i) != expected) {
        throw new AssertionError("gradient " + i + " of " + b + ": " + gradients.get(i));
      }
    }
  }

  @Test
  void zeroTwoKeepsOnlyThisRanksShardsAndZeroOneTheWholeBuffer() {
    fillGradients(1);
    try (GradientBuckets b =
        new GradientBuckets(layout, gradients, group, new GradientBuckets.Settings(2, 0))) {
      layers.forEach(r -> assertGradients(r, 1, 0)); // released at once
      fillGradients(2);
      for (ParameterLayout.Range r : layers) {
        b.reduceWhenReady(r.from(), r.to());
      }
      b.awaitReductions();
      layers.forEach(r -> assertGradients(r, 2, 0));
      fillGradients(3);
      b.zeroGradients(); // the shards only: the rest reads as zeros already
      layers.forEach(r -> assertGradients(r, 0, 3));
      assertThat(b.residentGradientBytes()).isEqualTo(Pages.resident(gradients.segment()));
    }
    fillGradients(1);
    try (GradientBuckets b = new GradientBuckets(layout, gradients, group)) {
      layers.forEach(r -> assertGradients(r, 1, 1));
      for (ParameterLayout.Range r : layers) {
        b.reduceWhenReady(r.from(), r.to());
      }
      b.awaitReductions();
      layers.forEach(r -> assertGradients(r, 1, 1));
      b.zeroGradients();
      layers.forEach(r -> assertGradients(r, 0, 0));
      assertThat(b.residentGradientBytes()).isEqualTo(Pages.resident(gradients.segment()));
    }
  }

  @Test
  void aFailedReductionReachesTheTrainingThreadOnce() {
    try (GradientBuckets b = new GradientBuckets(layout, gradients, group)) {
      CollectiveException lost = new CollectiveException("rank 2 is gone");
      group.failReduce = lost;
      b.reduceWhenReady(layers.get(0).from(), layers.get(0).to());
      assertThatThrownBy(b::awaitReductions).isSameAs(lost);
      b.awaitReductions(); // nothing pending any more

      AssertionError error = new AssertionError("broken");
      group.failReduceWithError = error;
      b.reduceWhenReady(layers.get(0).from(), layers.get(0).to());
      assertThatThrownBy(b::awaitReductions)
          .isInstanceOf(IllegalStateException.class)
          .hasCause(error);
    }
  }

  @Test
  void gathersRunInTheForwardOrderAndTheForwardWaitsOnlyForTheBucketsItReads() {
    Floats parameters = Floats.allocate(arena, layout.size());
    group.base = parameters.segment();
    group.gathers = new Semaphore(0);
    try (GradientBuckets b = new GradientBuckets(layout, gradients, group)) {
      b.gatherWhileForwarding(parameters);
      ParameterLayout.Range embeddings = layers.get(3);
      group.gathers.release(1); // the embeddings only
      b.awaitParameters(embeddings.from() + 1, embeddings.to());
      // the next bucket starts where the embeddings end: an empty range there reads nothing
      b.awaitParameters(embeddings.to(), embeddings.to());
      b.awaitParameters(embeddings.from(), embeddings.from() + 1);
      assertThat(group.calls()).containsExactly(slice("allGather", embeddings));

      group.gathers.release(3);
      b.awaitGathers();
      assertThat(group.calls())
          .containsExactly(
              slice("allGather", layers.get(3)),
              slice("allGather", layers.get(2)),
              slice("allGather", layers.get(1)),
              slice("allGather", layers.get(0)));
      double[] seconds = b.gatherSeconds();
      assertThat(seconds[0]).isGreaterThan(0);
      assertThat(seconds[1]).isGreaterThan(0);
      assertThat(b.gatherSeconds()).containsExactly(0, 0);
    }
  }

  @Test
  void anInterruptedWaitForAGatherIsACollectiveFailureAndKeepsTheInterrupt() {
    Floats parameters = Floats.allocate(arena, layout.size());
    group.gathers = new Semaphore(0);
    try (GradientBuckets b = new GradientBuckets(layout, gradients, group)) {
      b.gatherWhileForwarding(parameters);
      Thread.currentThread().interrupt();
      assertThatThrownBy(b::awaitGathers)
          .isInstanceOf(CollectiveException.class)
          .hasMessage("interrupted while gathering parameters");
      assertThat(Thread.interrupted()).isTrue();
      group.gathers.release(4);
      b.awaitGathers();
      assertThat(group.calls()).hasSize(4);
    }
  }

  @Test
  void closedBucketsTakeNoMoreWork() {
    GradientBuckets b = new GradientBuckets(layout, gradients, group);
    b.close();
    List<Runnable> after = new ArrayList<>();
    after.add(() -> b.reduceWhenReady(layers.get(0).from(), layers.get(0).to()));
    assertThatThrownBy(() -> after.getFirst().run()).isInstanceOf(RejectedExecutionException.class);
  }
}
