package dev.cria.train.compile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.HostBuffers;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ModelSlice;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.model.Precision;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.StochasticRounding;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.parallel.ParallelDims;
import dev.cria.train.checkpoint.WholeModel;
import dev.cria.train.distributed.FakeGroup;
import dev.cria.train.distributed.GradientBuckets;
import dev.cria.train.distributed.ShardedAdamW;
import dev.cria.train.distributed.ShardedParameters;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class MemoryPlanTest {
  private static final long GB = 1_000_000_000L;

  private static MemoryPlan.Settings settings(String preset, int micro, int seq) {
    return new MemoryPlan.Settings(
        LlamaConfig.preset(preset), micro, seq, 1, 0, false, false, 0, Precision.FP32);
  }

  private static MemoryPlan.Job job(int world, int perHost, long memory) {
    return new MemoryPlan.Job(world, perHost, memory, "test");
  }

  /** This rank's shards of every bucket, as the trainer's buckets cut them. */
  private static List<ParameterLayout.Range> shards(ParameterLayout layout, int world, int rank) {
    List<ParameterLayout.Range> out = new ArrayList<>();
    for (ParameterLayout.Range b : layout.buckets()) {
      out.add(
          new ParameterLayout.Range(
              b.from() + Collective.shardStart(b.size(), world, rank),
              b.from() + Collective.shardStart(b.size(), world, rank + 1)));
    }
    return out;
  }

  @ParameterizedTest(name = "{0}, micro-batch {1} x {2}, {3} rank(s), recompute {4}")
  @CsvSource({
    "tiny, 2, 128, 1, false",
    "tiny, 4, 256, 2, true",
    "small, 2, 256, 1, false",
    "small, 1, 512, 3, false"
  })
  void theTensorsPlannedAreExactlyWhatTheModelAndOptimizerAllocate(
      String preset, int micro, int seq, int world, boolean recompute) {
    MemoryPlan.Settings s =
        new MemoryPlan.Settings(
            LlamaConfig.preset(preset), micro, seq, 1, 0, recompute, false, 0, Precision.FP32);
    MemoryPlan plan = MemoryPlan.of(s, job(world, world, 64 * GB));
    long before = HostBuffers.liveBytes();
    try (Backend cpu = Backends.open("cpu", 1);
        LlamaModel model = new LlamaModel(s.shape(), cpu, micro, seq, recompute);
        ShardedAdamW adam =
            ShardedAdamW.over(
                model.layout(), AdamW.Settings.llama(), cpu, shards(model.layout(), world, 0))) {
      assertThat(HostBuffers.liveBytes() - before).isEqualTo(plan.tensorBytes(0));
      assertThat(adam.stateBytes()).isEqualTo(plan.bytes(MemoryPlan.Kind.OPTIMIZER, 0));
    }
  }

  @ParameterizedTest(
      name =
          "{0} at tensor parallelism {1}, data parallelism {2}, {3}, sequence-parallel {4},"
              + " ZeRO-{5}")
  @CsvSource({
    "tiny, 2, 1, 32, false, 1",
    "small, 4, 1, 32, false, 1",
    "tiny, 2, 2, 32, false, 1",
    "tiny, 2, 1, 32, true, 1",
    "small, 4, 2, 32, true, 1",
    "small, 1, 2, bf16-mixed, false, 3",
    "small, 2, 2, bf16-mixed, true, 3",
    "tiny, 2, 1, bf16-sr, false, 1",
    "tiny, 2, 2, bf16-sr, true, 3"
  })
  void theTensorsPlannedForATensorParallelOrZeroThreeRankAreExactlyWhatItAllocates(
      String preset, int tp, int dp, String precision, boolean sequenceParallel, int zero) {
    Precision p = Precision.parse(precision);
    MemoryPlan.Settings s =
        new MemoryPlan.Settings(
            LlamaConfig.preset(preset), 2, 64, zero, 0, false, false, 0, p, tp, sequenceParallel);
    int world = tp * dp;
    MemoryPlan plan = MemoryPlan.of(s, job(world, world, 64 * GB));
    MemoryPlan whole =
        MemoryPlan.of(
            new MemoryPlan.Settings(LlamaConfig.preset(preset), 2, 64, 1, 0, false, false, 0, p),
            job(1, 1, 64 * GB));
    ParallelDims dims = new ParallelDims(dp, tp);
    for (int rank : new int[] {0, world - 1}) {
      long before = HostBuffers.liveBytes();
      try (Backend cpu = Backends.open("cpu", 1);
          LlamaModel model =
              new LlamaModel(
                  s.shape(),
                  cpu,
                  2,
                  64,
                  false,
                  p,
                  new FakeGroup(dims.tensorRank(rank), tp),
                  sequenceParallel);
          ShardedAdamW adam =
              ShardedAdamW.over(
                  model.layout(),
                  AdamW.Settings.llama(),
                  cpu,
                  shards(model.layout(), dp, dims.dataRank(rank)),
                  StochasticRounding.forPrecision(p, 1)); // bf16-sr: bf16 moments
          WholeModel gathered =
              WholeModel.of(
                  model,
                  adam.parts(),
                  new FakeGroup(rank, world),
                  dims,
                  java.util.stream.IntStream.range(0, dp)
                      .mapToObj(d -> shards(model.layout(), dp, d))
                      .toList(),
                  zero == 3,
                  cpu);
          GradientBuckets buckets =
              zero == 3
                  ? new GradientBuckets(
                      model.layout(),
                      model.gradients(),
                      new FakeGroup(dims.dataRank(rank), dp),
                      new GradientBuckets.Settings(3, 0))
                  : null;
          ShardedParameters sharded = ShardedParameters.of(buckets, cpu, () -> 0)) {
        if (sharded != null) {
          sharded.shard(model);
        }
        // the bf16 copy is allocated by the first pass: as the model says (MixedPrecisionModelTest)
        assertThat(HostBuffers.liveBytes() - before + model.computeCopyBytes())
            .as("rank %d", rank)
            .isEqualTo(plan.tensorBytes(rank));
      }
    }
    if (zero < 3) { // ZeRO-3's below
      assertThat(plan.bytes(MemoryPlan.Kind.PARAMETERS, 1))
          .as("a slice: the whole model's share, and the norms whole")
          .isLessThan(whole.bytes(MemoryPlan.Kind.PARAMETERS, 0) / tp + 4L * 64 * 1024);
    }
    if (tp > 1) {
      assertThat(plan.bytes(MemoryPlan.Kind.ACTIVATIONS, 1))
          .isLessThan(whole.bytes(MemoryPlan.Kind.ACTIVATIONS, 0));
    }
    if (zero == 3) { // the shards, two buffers of the largest bucket, one bucket's bf16 copy
      ParameterLayout layout = new ParameterLayout(s.shape(), new ModelSlice(tp, 0));
      long largest =
          layout.buckets().stream().mapToLong(ParameterLayout.Range::size).max().orElseThrow();
      long shards = shards(layout, dp, 0).stream().mapToLong(ParameterLayout.Range::size).sum();
      assertThat(plan.bytes(MemoryPlan.Kind.PARAMETERS, 0)).isEqualTo(4 * (shards + 2 * largest));
      MemoryPlan one = MemoryPlan.of(s.withZero(1), job(world, world, 64 * GB));
      if (s.precision() == Precision.BF16_MIXED) { // bf16-sr's copy holds one bucket anyway
        assertThat(plan.bytes(MemoryPlan.Kind.BF16_COPIES, 0))
            .isLessThan(one.bytes(MemoryPlan.Kind.BF16_COPIES, 0));
      }
    }
    // rank 0 gathers one whole tensor and its moments at a time (the embeddings, the largest);
    // every rank holds a buffer of its slice of it, far less than the model
    LlamaConfig shape = LlamaConfig.preset(preset);
    long embeddings = 4L * shape.vocabSize() * shape.dim();
    assertThat(plan.bytes(MemoryPlan.Kind.WHOLE_MODEL, 0))
        .isEqualTo(3 * embeddings + embeddings / tp);
    assertThat(plan.bytes(MemoryPlan.Kind.WHOLE_MODEL, world - 1)).isEqualTo(embeddings / tp);
    assertThat(plan.bytes(MemoryPlan.Kind.WHOLE_MODEL, 0))
        .as("less than the whole model and its moments, which rank 0 once gathered")
        .isLessThan(3 * whole.bytes(MemoryPlan.Kind.PARAMETERS, 0));
    assertThat(PlanReport.headline(plan))
        .endsWith(
            world
                + " ranks ("
                + world
                + " on each host), "
                + (tp == 1 ? "ZeRO-" + zero : "tensor parallelism " + tp)
                + (sequenceParallel ? " with sequence parallelism" : ""));
    if (sequenceParallel) {
      assertThat(plan.bytes(MemoryPlan.Kind.ACTIVATIONS, 0))
          .as("the residual stream and the norms split along the tokens")
          .isLessThan(
              MemoryPlan.of(s.withSequenceParallel(false), job(world, world, 64 * GB))
                  .bytes(MemoryPlan.Kind.ACTIVATIONS, 0));
    }
  }

  @Test
  void tensorParallelismIsSuggestedWhereItFitsAndItsGroupStaysOnOneHost() {
    // long sequences: the activations, which tensor parallelism splits, outweigh rank 0's
    // gathered copy of the model
    MemoryPlan.Settings s = settings("small", 16, 512);
    MemoryPlan whole = MemoryPlan.of(s, job(2, 2, 64 * GB));
    MemoryPlan split = MemoryPlan.of(s.withTensorParallel(2), job(2, 2, 64 * GB));
    assertThat(split.largest()).isLessThan(whole.largest());
    long between = (whole.largest() + split.largest()) / 2;
    assertThat(MemoryPlan.of(s, job(2, 2, between)).whatWouldFit())
        .anyMatch(
            l -> l.startsWith("--tensor-parallel 2 (") && l.endsWith("slice of every layer)"));
    assertThat(MemoryPlan.of(s, job(2, 1, between)).whatWouldFit())
        .as("one rank a host: the group would span hosts")
        .noneMatch(l -> l.startsWith("--tensor-parallel"));
    // split, the residual stream can be split too
    MemoryPlan rows =
        MemoryPlan.of(s.withTensorParallel(2).withSequenceParallel(true), job(2, 2, 64 * GB));
    assertThat(rows.largest()).isLessThan(split.largest());
    assertThat(MemoryPlan.of(s.withTensorParallel(2), job(2, 2, rows.largest())).whatWouldFit())
        .anyMatch(l -> l.startsWith("--sequence-parallel ("));
    // four ranks on a host: the smallest group that fits, the other ranks data-parallel
    MemoryPlan pairs = MemoryPlan.of(s.withTensorParallel(2), job(4, 4, 64 * GB));
    assertThat(MemoryPlan.of(s, job(4, 4, 64 * GB)).largest()).isGreaterThan(pairs.largest());
    assertThat(MemoryPlan.of(s, job(4, 4, pairs.largest())).whatWouldFit())
        .anyMatch(l -> l.startsWith("--tensor-parallel 2 ("));
  }

  @Test
  void llama2SevenBillionOnA24GigabyteMachineIsRefusedWithTheTableAndWhy() {
    MemoryPlan plan = MemoryPlan.of(settings("llama2-7b", 1, 4096), job(1, 1, 24 * GB));
    assertThat(plan.fits()).isFalse();
    assertThat(plan.bytes(MemoryPlan.Kind.PARAMETERS, 0)).isEqualTo(4 * plan.parameters());
    assertThat(plan.parameters()).isGreaterThan(1L << 31); // long offsets throughout
    List<String> table = PlanReport.table(plan);
    assertThat(table.getFirst()).startsWith("memory plan: Llama d=4096 L=32 heads=32");
    assertThat(String.join("\n", table))
        .contains("parameters (fp32, all of them)", "27.0 GB", "AdamW moments", "53.9 GB")
        .contains("does not fit: a rank needs ", ", a process has 24.0 GB")
        // one rank cannot hold the parameters, but ZeRO-3 over more hosts shards them
        .contains(
            "would fit: --zero 3 --recompute on 8 host(s) of 1 rank(s) (8 ranks: 23.7 GB each, the"
                + " parameters, gradients and AdamW moments sharded)")
        .doesNotContain("nothing cria can change");
  }

  @Test
  void bf16SrStoresTheMomentsInBf16CopiesOneBucketAndSaysItsWeightsSitInFp32Slots() {
    MemoryPlan.Settings mixed =
        new MemoryPlan.Settings(
            LlamaConfig.preset("small"), 2, 256, 1, 0, false, false, 0, Precision.BF16_MIXED);
    MemoryPlan.Settings sr =
        new MemoryPlan.Settings(
            LlamaConfig.preset("small"), 2, 256, 1, 0, false, false, 0, Precision.BF16_SR);
    MemoryPlan a = MemoryPlan.of(mixed, job(1, 1, 64 * GB));
    MemoryPlan b = MemoryPlan.of(sr, job(1, 1, 64 * GB));
    long n = a.parameters();
    // two moments of 2 bytes a parameter instead of 4
    assertThat(b.bytes(MemoryPlan.Kind.OPTIMIZER, 0)).isEqualTo(2 * n * 2);
    // the products' bf16 copy holds the bucket in use rather than every weight but the embeddings
    LlamaConfig small = LlamaConfig.preset("small");
    long embeddings = (long) small.vocabSize() * small.dim();
    long copies = a.bytes(MemoryPlan.Kind.BF16_COPIES, 0) - b.bytes(MemoryPlan.Kind.BF16_COPIES, 0);
    assertThat(copies)
        .isEqualTo(2 * (n - embeddings - new ParameterLayout(small).largestMultipliedBucket()));
    assertThat(b.total(0)).isEqualTo(a.total(0) - 2 * n * 2 - copies);
    assertThat(String.join("\n", PlanReport.table(b)))
        .contains("parameters (bf16 values in fp32 slots, all)")
        .contains("AdamW moments (bf16, 2 each)")
        .contains("(bf16-sr, the weights one bucket at a time)");
    assertThat(String.join("\n", PlanReport.table(a))).contains("(bf16-mixed)");
    MemoryPlan zero3 = MemoryPlan.of(sr.withZero(3), job(2, 2, 64 * GB));
    assertThat(String.join("\n", PlanReport.table(zero3)))
        .contains("parameters (ZeRO-3: shards + 2 gather buffers, bf16 values in fp32 slots)")
        .contains("AdamW moments (ZeRO: this rank's 1/2, bf16)");
  }

  @Test
  void theTablesRowsLineUpWhateverTheLabelsLength() {
    MemoryPlan.Settings s =
        new MemoryPlan.Settings(
            LlamaConfig.preset("llama2-7b"),
            1,
            4096,
            3,
            0,
            true,
            false,
            0,
            Precision.BF16_MIXED,
            8,
            true);
    List<String> table = PlanReport.table(MemoryPlan.of(s, job(128, 32, 16 * GB)));
    int total = 1;
    while (!table.get(total).strip().startsWith("total")) {
      total++;
    }
    assertThat(table.get(1)).contains("rank 0", "other ranks");
    assertThat(table.subList(1, total + 1))
        .as("the header, every row and the total, each column at its place")
        .allMatch(l -> l.length() == table.get(1).length())
        .anyMatch(
            l -> l.startsWith("  checkpoint gathering (a whole tensor at a time, on rank 0) "))
        .anyMatch(l -> l.startsWith("  parameters (ZeRO-3: shards + 2 gather buffers) "));
  }

  @Test
  void everyPresetUpToSeventyBillionIsPlannedWithoutAllocating() {
    long before = HostBuffers.liveBytes();
    for (String preset : LlamaConfig.PRESETS.keySet()) {
      LlamaConfig c = LlamaConfig.preset(preset);
      MemoryPlan plan = MemoryPlan.of(settings(preset, 1, c.maxSeqLen()), job(64, 8, 80 * GB));
      // parameters and gradients whole, the moments sharded 64 ways
      assertThat(plan.total(0))
          .as(preset)
          .isGreaterThan(8 * plan.parameters() + plan.activations(false));
      assertThat(plan.bytes(MemoryPlan.Kind.OPTIMIZER, 0))
          .isCloseTo(
              8 * plan.parameters() / 64,
              org.assertj.core.data.Offset.offset(8L * (c.layers() + 2)));
    }
    assertThat(HostBuffers.liveBytes()).isEqualTo(before);
    MemoryPlan seventy = MemoryPlan.of(settings("llama2-70b", 1, 4096), job(64, 8, 80 * GB));
    assertThat(seventy.parameters()).isGreaterThan(68_000_000_000L);
    assertThat(seventy.fits()).isFalse(); // 276 GB of parameters on every rank
  }

  @Test
  void whatWouldFitNamesRecomputeASmallerMicroBatchZeroTwoAndMoreHosts() {
    MemoryPlan.Settings s = settings("llama2-7b", 4, 4096);
    // enough for the parameters, gradients and sharded moments, not for 4 x 4096 tokens'
    // activations
    // a byte less than recompute alone needs: only a smaller micro-batch with it fits
    long memory = MemoryPlan.of(s.withRecompute(), job(8, 8, GB)).largest() - 1;
    MemoryPlan plan = MemoryPlan.of(s, job(8, 8, memory));
    assertThat(plan.fits()).isFalse();
    assertThat(plan.whatWouldFit())
        .isNotEmpty()
        .allMatch(l -> l.startsWith("--micro-batch ") || l.startsWith("--tensor-parallel "))
        .anyMatch(l -> l.startsWith("--micro-batch 2 --recompute ("))
        // a checkpoint gathers a tensor at a time: splitting the model fits as well
        .anyMatch(l -> l.startsWith("--tensor-parallel 8 ("));
    assertThat(MemoryPlan.of(s.withRecompute().withMicroBatch(2), job(8, 8, memory)).fits())
        .isTrue();
    // between the two: recompute alone is enough
    long between = (MemoryPlan.of(s.withRecompute(), job(8, 8, GB)).largest() + plan.largest()) / 2;
    assertThat(MemoryPlan.of(s, job(8, 8, between)).whatWouldFit().getFirst())
        .startsWith("--recompute (");
    // the moments of a 7B model sharded over more hosts
    MemoryPlan crowded = MemoryPlan.of(s.withRecompute().withMicroBatch(1), job(2, 2, 85 * GB));
    assertThat(crowded.fits()).isFalse();
    assertThat(crowded.whatWouldFit())
        .anyMatch(l -> l.startsWith("--zero 2 ("))
        .anyMatch(l -> l.matches("\\d+ hosts of 2 rank\\(s\\) \\(\\d+ ranks: .*"));
    MemoryPlan zero2 = MemoryPlan.of(s.withZero(2), job(8, 8, 80 * GB));
    assertThat(zero2.bytes(MemoryPlan.Kind.GRADIENTS, 0))
        .isLessThan(plan.bytes(MemoryPlan.Kind.GRADIENTS, 0) / 2);
  }

  @Test
  void zeroThreeIsSuggestedWhereOnlyShardingTheParametersFitsAndShardsThemOverMoreHosts() {
    MemoryPlan.Settings s = settings("llama2-7b", 1, 4096).withRecompute();
    MemoryPlan three = MemoryPlan.of(s.withZero(3), job(8, 8, GB));
    MemoryPlan two = MemoryPlan.of(s.withZero(2), job(8, 8, GB));
    // the parameters: a rank's 1/8 and two buffers of the largest bucket (a layer: larger than the
    // embeddings or the head)
    ParameterLayout layout = new ParameterLayout(s.shape());
    List<ParameterLayout.Range> b = layout.buckets();
    long shards = shards(layout, 8, 0).stream().mapToLong(ParameterLayout.Range::size).sum();
    assertThat(three.bytes(MemoryPlan.Kind.PARAMETERS, 0))
        .isEqualTo(4 * (shards + b.get(1).size() + b.get(2).size()));
    // room for ZeRO-3, not for ZeRO-2 nor tensor parallelism: the suggestion
    long memory = three.largest() + GB;
    assertThat(two.largest()).isGreaterThan(memory);
    assertThat(MemoryPlan.of(s, job(8, 8, memory)).whatWouldFit())
        .contains("--zero 3 (" + PlanReport.size(three.largest()) + ")");
    // under ZeRO-3, more hosts shard the parameters further
    MemoryPlan crowded = MemoryPlan.of(s.withZero(3), job(8, 8, three.largest() - GB));
    assertThat(crowded.fits()).isFalse();
    assertThat(crowded.whatWouldFit())
        .anyMatch(l ->
            l.matches(
                "\\d+ hosts of 8 rank\\(s\\) \\(\\d+ ranks: .*, gradients and parameters sharded further\\)"));
  }

  @Test
  void theBackgroundSaveCopyAndTheSharedMappingAreCounted() {
    MemoryPlan.Settings s =
        new MemoryPlan.Settings(
            LlamaConfig.preset("tiny"), 2, 128, 1, 0, false, true, 0, Precision.FP32);
    MemoryPlan plan = MemoryPlan.of(s, job(2, 2, 20 * GB));
    long p = 4 * plan.parameters();
    assertThat(plan.bytes(MemoryPlan.Kind.SNAPSHOT, 0))
        .isEqualTo(p + plan.bytes(MemoryPlan.Kind.OPTIMIZER, 0));
    assertThat(plan.bytes(MemoryPlan.Kind.SNAPSHOT, 1))
        .isEqualTo(plan.bytes(MemoryPlan.Kind.OPTIMIZER, 1));
    assertThat(plan.bytes(MemoryPlan.Kind.COMMUNICATION, 0)).isGreaterThan(16L << 20);
    assertThat(MemoryPlan.of(s, job(1, 1, 20 * GB)).bytes(MemoryPlan.Kind.COMMUNICATION, 0))
        .isZero();
    assertThat(PlanReport.table(plan).get(1)).contains("rank 0", "other ranks");
  }

  @Test
  void theJsonIsOneObjectWithEveryKindPerRankTheTotalAndTheVerdict() {
    MemoryPlan plan = MemoryPlan.of(settings("small", 2, 256), job(4, 2, 8 * GB));
    JsonNode o = JsonMapper.builder().build().readTree(PlanReport.json(plan));
    assertThat(o.path("world_size").asInt()).isEqualTo(4);
    assertThat(o.path("fits").asBoolean()).isTrue();
    assertThat(o.path("memory_per_process").asLong()).isEqualTo(8 * GB);
    JsonNode rank0 = o.path("ranks").get(0);
    long sum = 0;
    for (MemoryPlan.Kind k : MemoryPlan.Kind.values()) {
      sum += rank0.path("bytes").path(k.key()).asLong();
    }
    assertThat(rank0.path("total").asLong()).isEqualTo(sum).isEqualTo(plan.total(0));
    assertThat(o.path("ranks").get(1).path("rank").asString()).isEqualTo("1-3");
  }

  @Test
  void sizesAreReadAsPeopleAndKubernetesWriteThem() {
    assertThat(MemorySize.parse("24Gi")).isEqualTo(24L << 30);
    assertThat(MemorySize.parse("24G")).isEqualTo(24 * GB);
    assertThat(MemorySize.parse("24GB")).isEqualTo(24 * GB);
    assertThat(MemorySize.parse("1.5GiB")).isEqualTo(3L << 29);
    assertThat(MemorySize.parse("512Mi")).isEqualTo(512L << 20);
    assertThat(MemorySize.parse("1000")).isEqualTo(1000);
    assertThatThrownBy(() -> MemorySize.parse("lots"))
        .hasMessage("'lots' is not a size: write 24Gi, 24G, 24GB, 512Mi or bytes");
  }

  @Test
  void theSampleIndicesOfALongRunAreCountedOnEveryRank() {
    // the blueprint's scale: a global batch of 1,024 for 100,000 steps is 102 M samples, whose
    // sample and shuffle indices take 24 bytes each on the heap of every rank
    MemoryPlan.Settings s =
        new MemoryPlan.Settings(
            LlamaConfig.preset("tiny"), 1, 256, 1, 0, false, false, 102_400_000, Precision.FP32);
    MemoryPlan plan = MemoryPlan.of(s, job(4, 2, 64 * GB));
    assertThat(plan.bytes(MemoryPlan.Kind.INDICES, 0)).isEqualTo(2_457_600_000L);
    assertThat(plan.bytes(MemoryPlan.Kind.INDICES, 3)).isEqualTo(2_457_600_000L);
    MemoryPlan none =
        MemoryPlan.of(
            new MemoryPlan.Settings(
                LlamaConfig.preset("tiny"), 1, 256, 1, 0, false, false, 0, Precision.FP32),
            job(4, 2, 64 * GB));
    assertThat(plan.total(0) - none.total(0)).isEqualTo(2_457_600_000L);
    assertThat(PlanReport.table(plan))
        .anyMatch(l -> l.matches("  sample indices \\(on the heap, at least\\) +2.46 GB"));
    // they live on the heap: a JVM whose maximum heap is smaller is told how to raise it
    assertThat(plan.heapShortfall(8 * GB)).isNull();
    assertThat(plan.heapShortfall(2 * GB))
        .isEqualTo(
            "the sample indices need at least 2.46 GB of heap on every rank (2.73 GB with the rest"
                + " of the heap), and the JVM's maximum heap is 2.00 GB: raise it (CRIA_JAVA_OPTS=-Xmx4g) or ask for fewer samples"
                + " (trainer.max_steps x global_batch_size)");
    // nothing cria can change makes them smaller, so they count in the floor
    MemoryPlan tight = MemoryPlan.of(s, job(4, 2, 2 * GB));
    assertThat(tight.fits()).isFalse();
    assertThat(tight.whatWouldFit())
        .singleElement()
        .asString()
        .startsWith("nothing cria can change");
  }
}
