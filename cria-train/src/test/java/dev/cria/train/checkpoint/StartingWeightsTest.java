package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.core.checksum.Checksums;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.RankValues;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.node.ObjectNode;

/**
 * Where a rank's weights come from: a seeded start, a Hugging Face model, or the checkpoint the
 * ranks choose together; what is said about damaged checkpoints and changed configs.
 */
class StartingWeightsTest {
  @TempDir Path tmp;
  Path run;
  Path tokenizer;
  Backend cpu;
  TrainConfig config;
  LlamaConfig shape;
  LlamaModel model;
  AdamW adam;
  SaveScheduleTest.Recorder metrics = new SaveScheduleTest.Recorder();

  /**
   * Rank {@code rank} of 2 in a test of one thread: barriers are counted; each sum adds what the
   * other rank contributes next ({@code others}, 0 when empty).
   */
  static final class OneOfTwo implements Collective {
    final int rank;
    final Deque<Float> others = new ArrayDeque<>();
    int barriers;

    OneOfTwo(int rank) {
      this.rank = rank;
    }

    @Override
    public int rank() {
      return rank;
    }

    @Override
    public int worldSize() {
      return 2;
    }

    @Override
    public String transport() {
      return "test";
    }

    @Override
    public void barrier() {
      barriers++;
    }

    @Override
    public void barrier(Duration patience) {
      assertThat(patience).isEqualTo(Checkpointer.PATIENCE);
      barriers++;
    }

    @Override
    public void broadcast(MemorySegment data, long bytes, int root) {}

    @Override
    public void allReduceSum(MemorySegment floats, long count) {
      float other = others.isEmpty() ? 0 : others.pop();
      floats.set(ValueLayout.JAVA_FLOAT, 0, floats.get(ValueLayout.JAVA_FLOAT, 0) + other);
    }

    @Override
    public void reduceScatterSum(MemorySegment floats, long count) {}

    @Override
    public void allGather(MemorySegment floats, long count) {}

    @Override
    public void abort(String reason) {}

    @Override
    public void close() {}
  }

  @BeforeEach
  void setUp() throws IOException {
    run = tmp.resolve("run");
    tokenizer = TestCheckpoints.tokenizer(tmp);
    cpu = Backends.open("cpu", 1);
    config = TestCheckpoints.config(TestCheckpoints.tree(run, tokenizer));
    shape = TestCheckpoints.shape(config);
    model = new LlamaModel(shape, cpu, 1, 8, false);
    adam = new AdamW(model.layout(), AdamW.Settings.llama(), cpu);
  }

  @AfterEach
  void tearDown() {
    adam.close();
    model.close();
    cpu.close();
  }

  private Checkpoint fill(TrainStart start) throws IOException {
    return fill(start, config, Collective.single());
  }

  private Checkpoint fill(TrainStart start, TrainConfig c, Collective group) throws IOException {
    return new StartingWeights(run, c, shape, group, new RankValues(group), metrics)
        .fill(start, model, List.of(adam));
  }

  private TrainConfig changed(String key, Object value) {
    ObjectNode t = TestCheckpoints.tree(run, tokenizer);
    TrainConfigFile.set(t, key, value);
    return TestCheckpoints.config(t);
  }

  /** The parameters NeMo's initialization gives {@code config}'s model. */
  private float[] seeded() {
    try (LlamaModel fresh = new LlamaModel(shape, cpu, 1, 8, false)) {
      fresh.initialize(
          config.trainer().seed(),
          config.model().initMethodStd(),
          config.model().useScaledInitMethod());
      return fresh.parameters().toArray(0, (int) fresh.layout().size());
    }
  }

  private float[] parameters() {
    return model.parameters().toArray(0, (int) model.layout().size());
  }

  private void assertParametersOfStep(long step) {
    for (long i = 0; i < model.layout().size(); i++) {
      if (model.parameters().get(i) != TestCheckpoints.value(i, step)) {
        throw new AssertionError("parameter " + i + ": " + model.parameters().get(i));
      }
    }
  }

  private static void damage(Path dir) throws IOException {
    Path f = dir.resolve(Checkpoint.MODEL);
    byte[] b = Files.readAllBytes(f);
    b[b.length - 1] ^= 1;
    Files.write(f, b);
  }

  private static void rewrite(Path dir, String name, String content) throws IOException {
    Files.writeString(dir.resolve(name), content);
    Manifest m = Manifest.read(dir);
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>(m.files());
    Path f = dir.resolve(name);
    files.put(name, new Manifest.FileEntry(Files.size(f), Checksums.crc32c(f)));
    new Manifest(m.step(), files).write(dir);
  }

  private List<String> checkpointNames() throws IOException {
    try (Stream<Path> s = Files.list(Checkpoints.directory(run))) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void aFreshStartIsNeMosSeededInitialization() throws IOException {
    assertThat(fill(TrainStart.fresh())).isNull();
    float[] expected = seeded();
    assertThat(expected).isNotEqualTo(new float[expected.length]);
    assertThat(parameters()).containsExactly(expected);
    assertThat(metrics.events).isEmpty();
  }

  @Test
  void initFromARunThatHasCheckpointsResumesItAndSaysTheWeightsAreNotUsed() throws IOException {
    TestCheckpoints.save(config, 2, cpu);
    Path hf = Path.of("/models/llama");
    Checkpoint c = fill(new TrainStart(true, null, hf, null));
    assertThat(c.step()).isEqualTo(2);
    assertParametersOfStep(2);
    assertThat(metrics.events)
        .contains(
            "info warning: --init-from /models/llama is not used: the run continues from its"
                + " checkpoint of step 2 (--overwrite starts it again from /models/llama)");
  }

  @Test
  void resumingTakesTheNewestWholeCheckpointAndSetsAsideTheDamagedOneAfterIt() throws IOException {
    TestCheckpoints.save(config, 2, cpu);
    Path step4 = TestCheckpoints.save(config, 4, cpu);
    damage(step4);
    Files.createDirectories(Checkpoints.directory(run).resolve(".step-9.partial"));

    Checkpoint c = fill(TrainStart.resumeIfPossible());

    assertThat(c.step()).isEqualTo(2);
    assertThat(c.dir()).isEqualTo(Checkpoints.stepDirectory(run, 2));
    assertParametersOfStep(2);
    assertThat(adam.steps()).isEqualTo(2);
    assertThat(adam.firstMoment().get(100)).isEqualTo(100 / 1000f);
    assertThat(adam.secondMoment().get(100)).isEqualTo(100 / 2000f);
    assertThat(checkpointNames()).containsExactly("abandoned-step-4", "step-2");
    assertThat(metrics.events).hasSize(3);
    assertThat(metrics.events.get(0))
        .startsWith("info warning: checkpoint " + step4 + " is not usable: " + step4)
        .contains("model.safetensors has checksum")
        .endsWith("; trying step-2");
    assertThat(metrics.events.get(1))
        .isEqualTo(
            "info warning: set aside step-4 as abandoned-step-4: it comes after the step this run"
                + " continues from");
    assertThat(metrics.events.get(2))
        .startsWith(
            "info resumed from "
                + c.dir()
                + ": step 2, consumed samples 8 (saved by 1 rank(s); checksums checked and loaded"
                + " in ");
  }

  @Test
  void aChangedConfigIsToldWithWhatItMeansForTheSampleOrder() throws IOException {
    TestCheckpoints.save(config, 2, cpu);
    Map<String, String> cases = new LinkedHashMap<>();
    cases.put("trainer.seed", " (the samples from here on are not the ones the saved run");
    cases.put("data.split", " (the samples from here on are not the ones the saved run");
    cases.put("trainer.global_batch_size", " (the samples from here on are not the ones");
    cases.put("trainer.max_steps", " (the sample order stays the saved run's unless");
    cases.put("optim.lr", "");
    Map<String, Object> values =
        Map.of(
            "trainer.seed",
            99L,
            "data.split",
            "80,10,10",
            "trainer.global_batch_size",
            16,
            "trainer.max_steps",
            40L,
            "optim.lr",
            5e-3);
    for (Map.Entry<String, String> e : cases.entrySet()) {
      metrics.events.clear();
      fill(TrainStart.resumeIfPossible(), changed(e.getKey(), values.get(e.getKey())), single());
      List<String> warnings = metrics.starting("info warning: the config differs");
      assertThat(warnings).as(e.getKey()).hasSize(1);
      String w = warnings.getFirst();
      assertThat(w).startsWith("info warning: the config differs from the checkpoint's: ");
      assertThat(w).contains(e.getKey() + ": ");
      if (e.getValue().isEmpty()) {
        assertThat(w).as(e.getKey()).doesNotContain("(");
      } else {
        assertThat(w).as(e.getKey()).contains(e.getValue());
      }
    }
    metrics.events.clear();
    ObjectNode t = TestCheckpoints.tree(tmp.resolve("elsewhere"), tokenizer);
    TrainConfigFile.set(t, "trainer.threads", 3);
    TrainConfigFile.set(t, "data.data_prefix", List.of(run.resolve("data").toString()));
    fill(TrainStart.resumeIfPossible(), TestCheckpoints.config(t), single());
    assertThat(metrics.starting("info warning")).isEmpty();
  }

  private static Collective single() {
    return Collective.single();
  }

  @Test
  void aSavedConfigThatCannotBeReadIsWarnedAboutAndTheRunGoesOn() throws IOException {
    Path dir = TestCheckpoints.save(config, 2, cpu);
    String yaml = Files.readString(dir.resolve(Checkpoint.CONFIG));
    rewrite(dir, Checkpoint.CONFIG, yaml.replace("keep_last: 2", "keep_last: -1"));
    assertThat(fill(TrainStart.resumeIfPossible()).step()).isEqualTo(2);
    assertThat(metrics.starting("info warning: cannot compare with the checkpoint's config: "))
        .singleElement()
        .asString()
        .contains("keep_last");
  }

  @Test
  void aRunWithoutCheckpointsStartsFromStepZeroSaysSoAndOtherDirectoriesAreRefused()
      throws IOException {
    Files.createDirectories(Checkpoints.directory(run));
    assertThat(fill(TrainStart.resumeIfPossible())).isNull();
    assertThat(parameters()).containsExactly(seeded());
    assertThat(metrics.events)
        .containsExactly(
            "info no checkpoint in " + Checkpoints.directory(run) + ": starting from step 0");

    Path fresh = tmp.resolve("fresh");
    Files.createDirectories(fresh);
    Files.writeString(fresh.resolve("config.yaml"), "run_dir: x\n");
    metrics.events.clear();
    assertThat(
            new StartingWeights(
                    fresh,
                    config,
                    shape,
                    Collective.single(),
                    new RankValues(Collective.single()),
                    metrics)
                .fill(TrainStart.resumeIfPossible(), model, List.of(adam)))
        .isNull();
    assertThat(metrics.events)
        .containsExactly(
            "info no checkpoint in " + Checkpoints.directory(fresh) + ": starting from step 0");

    Path nothing = tmp.resolve("nothing");
    Files.createDirectories(nothing);
    assertThatThrownBy(
            () -> fill(new TrainStart(false, nothing, null, null), config, Collective.single()))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining(nothing + ": neither a checkpoint");
  }

  @Test
  void whenEveryCheckpointIsDamagedTheRunIsRefusedUnlessToldToStartOver() throws IOException {
    damage(TestCheckpoints.save(config, 2, cpu));
    damage(TestCheckpoints.save(config, 4, cpu));
    assertThatThrownBy(() -> fill(TrainStart.resumeIfPossible()))
        .isInstanceOf(CheckpointException.class)
        .hasMessageStartingWith(
            Checkpoints.directory(run) + " holds checkpoints but none is usable (step-4: ")
        .hasMessageContaining("; step-2: ")
        .hasMessageEndingWith(
            "); the checkpoints are left as they are. To train this run again from step 0 (they are kept as"
                + " abandoned-step-N), pass --start-over");
    assertThat(checkpointNames()).containsExactly("step-2", "step-4");
    assertThat(metrics.starting("info warning: checkpoint ")).hasSize(2);
    assertThat(metrics.events.get(1)).doesNotContain("; trying");

    metrics.events.clear();
    assertThat(fill(new TrainStart(true, null, null, null, true))).isNull();
    assertThat(parameters()).containsExactly(seeded());
    assertThat(checkpointNames()).containsExactly("abandoned-step-2", "abandoned-step-4");
    assertThat(metrics.starting("info no usable checkpoint in " + Checkpoints.directory(run)))
        .hasSize(1);
    assertThat(metrics.starting("info warning: set aside "))
        .containsExactly(
            "info warning: set aside step-2 as abandoned-step-2: it comes after the step this run"
                + " continues from",
            "info warning: set aside step-4 as abandoned-step-4: it comes after the step this run"
                + " continues from");
  }

  @Test
  void aNamedCheckpointIsResumedEvenWhenNewerOnesExistAndFailsLoudlyWhenDamaged()
      throws IOException {
    Path step2 = TestCheckpoints.save(config, 2, cpu);
    Path step4 = TestCheckpoints.save(config, 4, cpu);
    assertThat(fill(new TrainStart(false, step2, null, null)).step()).isEqualTo(2);
    assertParametersOfStep(2);
    assertThat(checkpointNames()).containsExactly("abandoned-step-4", "step-2");

    Files.move(Checkpoints.directory(run).resolve("abandoned-step-4"), step4);
    damage(step4);
    assertThatThrownBy(() -> fill(new TrainStart(false, step4, null, null)))
        .isInstanceOf(CheckpointException.class)
        .hasMessageStartingWith("checkpoint " + step4 + " is not usable: ")
        .hasMessageContaining("model.safetensors has checksum");

    Path other = tmp.resolve("other");
    TrainConfig otherConfig = TestCheckpoints.config(TestCheckpoints.tree(other, tokenizer));
    damage(TestCheckpoints.save(otherConfig, 3, cpu));
    assertThatThrownBy(() -> fill(new TrainStart(false, other, null, null)))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(other + ": no usable checkpoint to resume from");
  }

  @Test
  void aStepDirectoryWhoseManifestIsForAnotherStepIsPassedOverUnlessNamed() throws IOException {
    Path step2 = TestCheckpoints.save(config, 2, cpu);
    Path step7 = Checkpoints.stepDirectory(run, 7);
    Files.move(step2, step7);
    assertThatThrownBy(() -> fill(TrainStart.resumeIfPossible()))
        .hasMessageContaining("step-7: " + step7 + ": its manifest is for step 2");
    Path copied = tmp.resolve("copied").resolve("step-7");
    Files.createDirectories(copied.getParent());
    Files.move(step7, copied);
    assertThat(fill(new TrainStart(false, copied, null, null)).step()).isEqualTo(2);
    assertParametersOfStep(2);
    // named inside the run directory, it is resumed, not set aside as coming after step 2
    Files.move(copied, step7);
    assertThat(fill(new TrainStart(false, step7, null, null)).step()).isEqualTo(2);
    assertParametersOfStep(2);
    assertThat(step7).isDirectory();
  }

  @Test
  void otherRanksCheckTheirShareAndOnlyRankZeroTidiesReportsAndSetsAside() throws IOException {
    TestCheckpoints.save(config, 2, cpu);
    TestCheckpoints.save(config, 4, cpu);
    Files.createDirectories(Checkpoints.directory(run).resolve(".step-9.partial"));
    OneOfTwo rank1 = new OneOfTwo(1);
    rank1.others.add(1f); // rank 0 finds step-4 damaged

    Checkpoint c = fill(TrainStart.resumeIfPossible(), changed("trainer.seed", 5L), rank1);

    assertThat(c.step()).isEqualTo(2);
    assertParametersOfStep(2);
    assertThat(rank1.barriers).isEqualTo(3); // the leftovers, then one per candidate
    assertThat(checkpointNames()).containsExactly(".step-9.partial", "step-2", "step-4");
    assertThat(metrics.events).hasSize(2);
    assertThat(metrics.events.get(0))
        .isEqualTo(
            "info warning: checkpoint "
                + Checkpoints.stepDirectory(run, 4)
                + " is not usable: damage found by 1 other rank(s), see their logs; trying"
                + " step-2");
    assertThat(metrics.events.get(1)).startsWith("info resumed from ");
  }

  @Test
  void rankZeroOfSeveralTidiesFirstAndWaitsForTheOthers() throws IOException {
    TestCheckpoints.save(config, 2, cpu);
    Files.createDirectories(Checkpoints.directory(run).resolve(".step-9.partial"));
    OneOfTwo rank0 = new OneOfTwo(0);
    Checkpoint c = fill(TrainStart.resumeIfPossible(), config, rank0);
    assertThat(c.step()).isEqualTo(2);
    assertThat(rank0.barriers).isEqualTo(2);
    assertThat(checkpointNames()).containsExactly("step-2");
  }

  @Test
  void aHuggingFaceModelOfTheSameShapeReplacesTheSeededWeightsAndAnotherIsRefused()
      throws IOException {
    ParameterLayout layout = new ParameterLayout(shape);
    Path hf = tmp.resolve("hf");
    try (Arena arena = Arena.ofConfined()) {
      Floats p = Floats.allocate(arena, layout.size());
      for (long i = 0; i < layout.size(); i++) {
        p.set(i, TestCheckpoints.value(i, 11));
      }
      HfModelFiles.write(hf, layout, p, SafetensorsWriter.Dtype.F32, Long.MAX_VALUE, Map.of());
    }
    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(shape, 1, 2, SafetensorsWriter.Dtype.F32));

    assertThat(fill(new TrainStart(false, null, hf, null))).isNull();
    assertParametersOfStep(11);
    assertThat(metrics.events).singleElement().asString().startsWith("info initialized from " + hf);

    LlamaConfig other = new LlamaConfig(16, 3, 2, 2, 64, 294, 1e-5f, 10000f, 8);
    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(other, 1, 2, SafetensorsWriter.Dtype.F32));
    assertThatThrownBy(() -> fill(new TrainStart(false, null, hf, null)))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("--init-from " + hf + ": its config.json describes another model: ")
        .hasMessageContaining("num_hidden_layers 2 (here) vs 3")
        .hasMessageContaining("; to match it: ")
        .hasMessageContaining("--layers 3");
    // a RoPE base of its own (CodeLlama's 1e6) is a config key: cria has no flag for it
    LlamaConfig rotated =
        new LlamaConfig(
            shape.dim(),
            shape.layers(),
            shape.heads(),
            shape.kvHeads(),
            shape.ffnDim(),
            shape.vocabSize(),
            1e-6f,
            1e6f,
            shape.maxSeqLen());
    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(rotated, 1, 2, SafetensorsWriter.Dtype.F32));
    assertThatThrownBy(() -> fill(new TrainStart(false, null, hf, null)))
        .hasMessageEndingWith(
            "rms_norm_eps 1.0E-5 (here) vs 1.0E-6, rope_theta 10000.0 (here) vs 1000000.0; to"
                + " match it: model.layernorm_epsilon=1.0E-6, model.rotary_base=1000000.0");

    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(shape, 1, 2, SafetensorsWriter.Dtype.F32));
    Files.delete(hf.resolve("model.safetensors"));
    Files.writeString(hf.resolve("model.safetensors"), "not safetensors");
    assertThatThrownBy(() -> fill(new TrainStart(false, null, hf, null)))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("--init-from: ");
  }

  @Test
  void weightsOfAnotherShapeAreRefusedBeforeAnythingIsWrittenAndDamageIsLeftToTheResume()
      throws IOException {
    LlamaConfig other = new LlamaConfig(16, 3, 2, 2, 64, 294, 1e-5f, 10000f, 8);
    // nothing to resume (no run directory yet, or a run without checkpoints): nothing to refuse
    StartingWeights.requireFits(TrainStart.resumeIfPossible(), run, other);

    Path step2 = TestCheckpoints.save(config, 2, cpu);
    Path step4 = TestCheckpoints.save(config, 4, cpu);
    StartingWeights.requireFits(TrainStart.resumeIfPossible(), run, shape);
    StartingWeights.requireFits(TrainStart.fresh(), run, other); // not resuming: not asked
    LlamaConfig wider =
        new LlamaConfig(
            shape.dim() * 2,
            shape.layers(),
            shape.heads(),
            shape.kvHeads(),
            shape.ffnDim(),
            shape.vocabSize(),
            shape.normEps(),
            shape.ropeTheta(),
            shape.maxSeqLen());
    LlamaConfig shallower =
        new LlamaConfig(
            shape.dim(),
            shape.layers() - 1,
            shape.heads(),
            shape.kvHeads(),
            shape.ffnDim(),
            shape.vocabSize(),
            shape.normEps(),
            shape.ropeTheta(),
            shape.maxSeqLen());
    assertThatThrownBy(() -> StartingWeights.requireFits(TrainStart.resumeIfPossible(), run, wider))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith(
            "run_dir "
                + run
                + ": checkpoint step-4 holds another model ("
                + step4.resolve(Checkpoint.MODEL)
                + ": model.embed_tokens.weight has shape [")
        .hasMessageContaining(", the model needs [")
        .hasMessageEndingWith(
            "); set the model as it was trained, or start a new run: another --run-dir, or"
                + " --overwrite to replace this one; nothing was written");
    assertThatThrownBy(() -> StartingWeights.requireFits(TrainStart.resumeIfPossible(), run, other))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("holds another model (" + step4 + " has no tensor model.layers.");
    assertThatThrownBy(
            () -> StartingWeights.requireFits(TrainStart.resumeIfPossible(), run, shallower))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(
            "holds another model ("
                + step4
                + " holds 9 tensor(s) the model has not, such as model.layers."
                + (shape.layers() - 1)
                + ".")
        .hasMessageEndingWith(
            "); set the model as it was trained, or start a new run: another --run-dir, or"
                + " --overwrite to replace this one; nothing was written");
    assertThatThrownBy(
            () -> StartingWeights.requireFits(new TrainStart(false, step2, null, null), run, other))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith(
            "--resume-from " + step2 + ": checkpoint step-2 holds another model")
        .hasMessageEndingWith(
            "; set the model as it was trained, or drop --resume-from; nothing" + " was written");

    // a newest checkpoint that cannot be read is the resume's to report (it falls back to step-2)
    Files.writeString(step4.resolve(Checkpoint.MODEL), "not safetensors");
    StartingWeights.requireFits(TrainStart.resumeIfPossible(), run, other);

    Path hf = tmp.resolve("not-hf");
    Files.createDirectories(hf);
    assertThatThrownBy(
            () -> StartingWeights.requireFits(new TrainStart(false, null, hf, null), run, shape))
        .isInstanceOf(ConfigException.class)
        .hasMessage(
            "--init-from "
                + hf
                + ": no config.json (a Hugging Face Llama directory holds config.json and"
                + " safetensors, as cria export writes them)");
    Files.writeString(
        hf.resolve("config.json"), HfConfig.configJson(other, 1, 2, SafetensorsWriter.Dtype.F32));
    assertThatThrownBy(
            () -> StartingWeights.requireFits(new TrainStart(false, null, hf, null), run, shape))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith(
            "--init-from " + hf + ": its config.json describes another model: ");
    assertThat(metrics.events).isEmpty();
  }

  @Test
  void aStartNamesEitherACheckpointOrAModelAndTheShortFormsSayWhatTheyMean() {
    Path p = Path.of("x");
    assertThatThrownBy(() -> new TrainStart(false, p, p, null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("resume from a checkpoint or initialize from a model, not both");
    assertThat(TrainStart.fresh()).isEqualTo(new TrainStart(false, null, null, null, false));
    assertThat(TrainStart.resumeIfPossible())
        .isEqualTo(new TrainStart(true, null, null, null, false));
    assertThat(new TrainStart(true, p, null, p).startOver()).isFalse();
    assertThat(new TrainStart(false, null, p, null, true).initFrom()).isEqualTo(p);
    List<TrainStart> ok = new ArrayList<>(List.of(new TrainStart(false, p, null, null)));
    assertThat(ok).hasSize(1);
  }
}
