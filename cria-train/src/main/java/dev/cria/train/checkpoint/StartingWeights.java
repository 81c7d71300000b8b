package dev.cria.train.checkpoint;

import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsException;
import dev.cria.engine.io.SafetensorsFile;
import dev.cria.engine.io.SliceCopy;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.LlamaModel;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.Moment;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.RankValues;
import dev.cria.train.metrics.MetricsSink;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Where a rank's weights come from, as {@link TrainStart} says: the checkpoint to resume (the same
 * on every rank, chosen together), else NeMo's seeded initialization, replaced by a Hugging Face
 * model's weights with {@code --init-from}.
 *
 * <p>A rank of a tensor-parallel group takes its slice of each tensor: a checkpoint or a Hugging
 * Face model holds whole tensors, read whole into memory of their own and cut ({@link SliceCopy}),
 * so that any layout resumes a checkpoint that any other saved.
 */
public final class StartingWeights {
  private final Path runDir;
  private final TrainConfig config;
  private final LlamaConfig shape;
  private final Collective group;
  private final RankValues values;
  private final MetricsSink metrics;

  public StartingWeights(
      Path runDir,
      TrainConfig config,
      LlamaConfig shape,
      Collective group,
      RankValues values,
      MetricsSink metrics) {
    this.runDir = runDir;
    this.config = config;
    this.shape = shape;
    this.group = group;
    this.values = values;
    this.metrics = metrics;
  }

  /**
   * Checks, before anything of the run is written, that the weights {@code start} names fit a model
   * of {@code shape}, reading only headers and configs: the checkpoint a resume would take first
   * (the one {@code --resume-from} names, else the newest of {@code runDir}) holds tensors of this
   * model's shapes, and an {@code --init-from} directory's {@code config.json} describes this
   * model. A checkpoint that cannot be read is left to the resume, which says so and falls back to
   * an older one.
   *
   * @throws ConfigException naming the checkpoint or directory, what differs, and what to do
   */
  public static void requireFits(TrainStart start, Path runDir, LlamaConfig shape)
      throws IOException {
    if (start.initFrom() != null) {
      requireInitFromFits(start.initFrom(), shape);
    }
    Path from = start.resumeFrom();
    if (from == null && !(start.resume() && Files.isDirectory(Checkpoints.directory(runDir)))) {
      return;
    }
    List<Path> candidates = Checkpoints.candidates(from != null ? from : runDir);
    if (candidates.isEmpty()) {
      return;
    }
    String mismatch;
    try {
      mismatch = HfModelFiles.layoutMismatch(candidates.getFirst(), new ParameterLayout(shape));
    } catch (IOException | RuntimeException unreadable) {
      return; // damage: the resume reports it and tries the next checkpoint
    }
    if (mismatch != null) {
      throw new ConfigException(
          (from != null ? "--resume-from " + from : "run_dir " + runDir)
              + ": checkpoint "
              + candidates.getFirst().getFileName()
              + " holds another model ("
              + mismatch
              + "); set the model as it was trained, or "
              + (from != null
                  ? "drop --resume-from"
                  : "start a new run: another --run-dir, or --overwrite to replace this one")
              + "; nothing was written");
    }
  }

  /** The {@code --init-from} directory's config.json describes {@code shape}, or throws. */
  private static void requireInitFromFits(Path dir, LlamaConfig shape) throws IOException {
    Path configJson = dir.resolve("config.json");
    if (!Files.isRegularFile(configJson)) {
      throw new ConfigException(
          "--init-from "
              + dir
              + ": no config.json (a Hugging Face Llama directory holds config.json and"
              + " safetensors, as cria export writes them)");
    }
    List<HfConfig.Difference> differences;
    try {
      differences = HfConfig.differences(shape, HfConfig.read(configJson));
    } catch (SafetensorsException e) {
      throw new ConfigException("--init-from: " + e.getMessage(), e);
    }
    if (!differences.isEmpty()) {
      throw new ConfigException(
          "--init-from "
              + dir
              + ": its config.json describes another model: "
              + differences.stream().map(Object::toString).collect(Collectors.joining(", "))
              + "; to match it: "
              + differences.stream()
                  .map(StartingWeights::settingFor)
                  .collect(Collectors.joining(", ")));
    }
  }

  /** The flag or config key that gives this model the other's value of {@code d}. */
  private static String settingFor(HfConfig.Difference d) {
    return switch (d.name()) {
      case "hidden_size" -> "--hidden-size " + d.there();
      case "num_hidden_layers" -> "--layers " + d.there();
      case "num_attention_heads" -> "--heads " + d.there();
      case "num_key_value_heads" -> "--kv-heads " + d.there();
      case "intermediate_size" -> "--ffn-size " + d.there();
      case "vocab_size" -> "--tokenizer of its " + d.there() + " entries";
      case "rms_norm_eps" -> "model.layernorm_epsilon=" + d.there();
      case "rope_theta" -> "model.rotary_base=" + d.there();
      default -> d.name() + " " + d.there();
    };
  }

  /**
   * Fills {@code model} (and, resuming, {@code optimizer}) as {@code start} says. Returns the
   * checkpoint resumed, or null.
   */
  public Checkpoint fill(TrainStart start, LlamaModel model, List<AdamW> optimizer)
      throws IOException {
    long t0 = System.nanoTime();
    Checkpoint resumed = choose(start);
    if (resumed == null) {
      model.initialize(
          config.trainer().seed(),
          config.model().initMethodStd(),
          config.model().useScaledInitMethod());
      if (start.initFrom() != null) {
        initializeFrom(start.initFrom(), model);
      }
      return null;
    }
    if (model.slice().whole()) {
      resumed.loadModel(model.layout(), model.parameters());
      resumed.loadOptimizer(optimizer);
    } else {
      loadSlice(resumed, model, optimizer);
    }
    warnAboutChanges(resumed);
    metrics.info(
        String.format(
            Locale.ROOT,
            "resumed from %s: step %d, consumed samples %d (saved by %d rank(s);"
                + " checksums checked and loaded in %.1f s)",
            resumed.dir(),
            resumed.step(),
            resumed.state().consumedSamples(),
            resumed.state().worldSize(),
            (System.nanoTime() - t0) / 1e9));
    if (start.initFrom() != null) {
      // the same command resumes a run that began from these weights; said, not silent
      metrics.warn(
          "--init-from "
              + start.initFrom()
              + " is not used: the run continues from its checkpoint of step "
              + resumed.step()
              + " (--overwrite starts it again from "
              + start.initFrom()
              + ")");
    }
    metrics.resumed(resumed.step());
    return resumed;
  }

  /**
   * A tensor-parallel rank's slice of a checkpoint's model and moments (of the moments, the ranges
   * its optimizer updates: the slice, or its data-parallel shards of it), read a whole tensor at a
   * time into memory of its own and cut: three times the largest tensor, never the whole model.
   */
  private static void loadSlice(Checkpoint resumed, LlamaModel model, List<AdamW> optimizer)
      throws IOException {
    ParameterLayout whole = new ParameterLayout(model.config());
    ParameterLayout mine = model.layout();
    long largest = whole.largestTensor();
    try (Arena arena = Arena.ofConfined();
        SafetensorsFile file = SafetensorsFile.open(resumed.dir().resolve(Checkpoint.MODEL));
        Checkpoint.MomentShards moments = resumed.openMoments()) {
      Floats first = Floats.allocate(arena, largest);
      Floats second = Floats.allocate(arena, largest);
      Floats slice = Floats.allocate(arena, largest);
      MemorySegment parameters = model.parameters().segment();
      for (ParameterLayout.Tensor t : mine.tensors()) {
        ParameterLayout.Tensor w = whole.tensor(t.name());
        file.read(w.name(), 0, w.size(), first.segment(), 0);
        SliceCopy.fromWholeTensor(
            mine,
            t,
            w,
            first.segment(),
            parameters.asSlice(t.offset() * Float.BYTES, t.size() * Float.BYTES));
        moments.load(
            new Checkpoint.Moments(
                w.offset(),
                w.end(),
                Moment.f32(model.buffers(), first, w.size()),
                Moment.f32(model.buffers(), second, w.size())));
        for (boolean isFirst : new boolean[] {true, false}) {
          SliceCopy.fromWholeTensor(
              mine, t, w, (isFirst ? first : second).segment(), slice.segment());
          for (AdamW part : optimizer) { // the part of the tensor each one updates
            long from = Math.max(part.from(), t.offset());
            long to = Math.min(part.to(), t.end());
            if (from < to) {
              Moment moment = isFirst ? part.firstMoment() : part.secondMoment();
              moment.copyFrom(View.of(slice, from - t.offset()), from - part.from(), to - from);
            }
          }
        }
      }
      for (AdamW part : optimizer) {
        part.restoreSteps(resumed.state().optimizerSteps());
      }
    }
  }

  /**
   * The checkpoint to resume from, the same on every rank, or null to start afresh. The candidates
   * (the one named, or the run's, newest first) are checked in turn by all ranks together, each
   * re-reading its share of the files, until one is whole; in the run directory, checkpoints after
   * the chosen one are then set aside, so that they are neither resumed later nor pruned for it.
   */
  private Checkpoint choose(TrainStart start) throws IOException {
    if (!start.resume() && start.resumeFrom() == null) {
      return null;
    }
    if (group.rank() == 0) {
      Checkpoints.removeLeftovers(runDir);
    }
    if (group.worldSize() > 1) {
      group.barrier(
          Checkpointer
              .PATIENCE); // the leftovers are sorted out before anyone lists the checkpoints
    }
    List<Path> candidates =
        Checkpoints.candidates(start.resumeFrom() != null ? start.resumeFrom() : runDir);
    List<String> problems = new java.util.ArrayList<>();
    Checkpoint chosen = null;
    for (Path dir : candidates) {
      Checkpoint c = null;
      String problem = null;
      try {
        c = Checkpoint.open(dir).verify(group.rank(), group.worldSize());
        if (!dir.equals(start.resumeFrom()) && c.step() != Checkpoints.stepOf(dir)) {
          throw new CheckpointException(dir + ": its manifest is for step " + c.step());
        }
      } catch (IOException | RuntimeException e) {
        problem = Checkpoints.describe(e);
      }
      if (group.worldSize() > 1) {
        group.barrier(Checkpointer.PATIENCE); // each rank has read its share, however large
      }
      long damaged = Math.round(values.sum(problem == null ? 0 : 1));
      if (damaged == 0) {
        chosen = c;
        break;
      }
      String line =
          "checkpoint "
              + dir
              + " is not usable: "
              + (problem != null
                  ? problem
                  : "damage found by " + damaged + " other rank(s), see their logs");
      if (dir.equals(start.resumeFrom())) {
        throw new CheckpointException(line);
      }
      problems.add(
          dir.getFileName() + ": " + line.substring(line.indexOf(" is not usable: ") + 16));
      int next = candidates.indexOf(dir) + 1;
      metrics.warn(
          line
              + (next < candidates.size() ? "; trying " + candidates.get(next).getFileName() : ""));
    }
    if (chosen == null && start.resumeFrom() != null) {
      throw new CheckpointException(start.resumeFrom() + ": no usable checkpoint to resume from");
    }
    if (chosen == null && !candidates.isEmpty() && !start.startOver()) {
      // days of work are not overwritten by a restart nobody asked for
      throw new CheckpointException(
          Checkpoints.directory(runDir)
              + " holds checkpoints but none is usable ("
              + String.join("; ", problems)
              + "); the checkpoints are left as they are. To train this run again from step 0 (they are kept as"
              + " abandoned-step-N), pass --start-over");
    }
    if (group.rank() == 0) {
      if (chosen == null) {
        metrics.info(
            (candidates.isEmpty() ? "no checkpoint in " : "no usable checkpoint in ")
                + (start.resumeFrom() != null ? start.resumeFrom() : Checkpoints.directory(runDir))
                + ": starting from step 0");
      }
      for (Path p :
          Checkpoints.setAsideAfter(
              runDir, chosen == null ? 0 : chosen.step(), chosen == null ? null : chosen.dir())) {
        metrics.warn(
            "set aside "
                + p.getFileName().toString().replaceAll("^abandoned-|\\.\\d+$", "")
                + " as "
                + p.getFileName()
                + ": it comes after the step this run continues from");
      }
    }
    return chosen;
  }

  /**
   * Tells what the config changes from the checkpoint's: allowed (a longer run, another interval),
   * but some changes (the seed, the data, the sequence length) mean the run no longer continues the
   * same sample order.
   */
  private void warnAboutChanges(Checkpoint checkpoint) {
    if (group.rank() != 0) {
      return;
    }
    TrainConfig saved;
    try {
      saved =
          TrainConfigFile.readSaved(checkpoint.dir().resolve(Checkpoint.CONFIG))
              .withPathsFrom(Path.of("")); // as this run's are (a config of older runs: relative)
    } catch (ConfigException e) {
      metrics.warn("cannot compare with the checkpoint's config: " + e.getMessage());
      return;
    }
    List<String> changed =
        TrainConfigFile.differences(saved, config).stream()
            .filter(d -> !d.startsWith("run_dir:") && !d.startsWith("trainer.threads:"))
            .toList();
    if (!changed.isEmpty()) {
      boolean order =
          changed.stream()
              .anyMatch(d ->
                  d.startsWith("trainer.seed:")
                      || d.startsWith("data.")
                      || d.startsWith("trainer.global_batch_size:"));
      boolean length = changed.stream().anyMatch(d -> d.startsWith("trainer.max_steps:"));
      metrics.warn(
          "the config differs from the checkpoint's: "
              + String.join(", ", changed)
              + (order
                  ? " (the samples from here on are not the ones the saved run would have taken)"
                  : length
                      ? " (the sample order stays the saved run's unless the new length needs more epochs of the"
                          + " data)"
                      : ""));
    }
  }

  /** Continued pretraining: the weights of a Hugging Face Llama whose shape is this model's. */
  private void initializeFrom(Path dir, LlamaModel model) throws IOException {
    long t0 = System.nanoTime();
    try {
      requireInitFromFits(dir, shape);
      Path configJson = dir.resolve("config.json");
      boolean tied = HfConfig.tiedEmbeddings(configJson);
      if (model.slice().whole()) {
        HfModelFiles.read(dir, model.layout(), model.parameters(), tied);
      } else {
        ParameterLayout whole = new ParameterLayout(model.config());
        try (Arena arena = Arena.ofConfined()) {
          Floats all = Floats.allocate(arena, whole.size());
          HfModelFiles.read(dir, whole, all, tied);
          SliceCopy.fromWhole(whole, all, model.layout(), model.parameters());
        }
      }
    } catch (SafetensorsException e) {
      throw new ConfigException("--init-from: " + e.getMessage(), e);
    }
    metrics.info(
        String.format(
            Locale.ROOT, "initialized from %s (%.1f s)", dir, (System.nanoTime() - t0) / 1e9));
  }
}
