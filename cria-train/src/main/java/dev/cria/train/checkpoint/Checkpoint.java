package dev.cria.train.checkpoint;

import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.io.SafetensorsFile;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.optim.Moment;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.engine.tensor.View;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A finished checkpoint directory whose manifest has been read:
 *
 * <pre>
 * step-N/
 *   model.safetensors                      F32, Hugging Face names (rank 0)
 *   optimizer/rank-RRRRR-of-WWWWW.safetensors  AdamW moments of rank R's ZeRO-1 shards: exp_avg@FROM, exp_avg_sq@FROM
 *   trainer_state.json                     step, consumed samples, optimizer steps, seed, schedule
 *   config.yaml                            the run's resolved config
 *   tokenizer.model | tokenizer.json       a copy of the tokenizer the run names, when it names one
 *   manifest.json                          sizes and CRC-32C of all of the above, written last
 * </pre>
 */
public record Checkpoint(Path dir, Manifest manifest, TrainingState state) {
  public static final String MODEL = HfModelFiles.SINGLE;
  public static final String CONFIG = "config.yaml";
  static final String OPTIMIZER_DIR = "optimizer";
  static final String FIRST = "exp_avg@";
  static final String SECOND = "exp_avg_sq@";

  /** Opens {@code dir} without checking checksums (see {@link #verify()}). */
  public static Checkpoint open(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new CheckpointException(dir + ": no such checkpoint directory");
    }
    Manifest m = Manifest.read(dir);
    return new Checkpoint(dir, m, TrainingState.read(dir));
  }

  /** Re-reads every file against the manifest; throws naming the damaged file. */
  public Checkpoint verify() throws IOException {
    return verify(0, 1);
  }

  /**
   * Re-reads the files a trained model is read from (the model, the config, the state, the
   * tokenizer), not the optimizer's shards: what evaluating, sampling or exporting needs, so that a
   * checkpoint whose optimizer state was removed to save space still serves them.
   */
  public Checkpoint verifyModel() throws IOException {
    return whole(manifest.problem(dir, 0, 1, name -> !name.startsWith(OPTIMIZER_DIR + "/")));
  }

  /** Re-reads this checker's share of the files (see {@link Manifest#problem(Path, int, int)}). */
  public Checkpoint verify(int checker, int checkers) throws IOException {
    return whole(manifest.problem(dir, checker, checkers));
  }

  /** This checkpoint when the check found no {@code problem}; else the damage, named. */
  private Checkpoint whole(String problem) {
    if (problem != null) {
      throw new CheckpointException(dir + " is damaged: " + problem);
    }
    return this;
  }

  public long step() {
    return manifest.step();
  }

  /** The run's config as it was when this checkpoint was saved. */
  public String configYaml() throws IOException {
    return Files.readString(dir.resolve(CONFIG));
  }

  /** The tokenizer copied into the checkpoint, or null when the run named none. */
  public Path tokenizer() {
    for (String name : List.of("tokenizer.model", "tokenizer.json")) {
      if (Files.isRegularFile(dir.resolve(name))) {
        return dir.resolve(name);
      }
    }
    return null;
  }

  /** Reads the model's parameters. */
  public void loadModel(ParameterLayout layout, Floats parameters) throws IOException {
    HfModelFiles.read(dir, layout, parameters, false);
  }

  /**
   * Fills each optimizer's moments from the shards of whichever ranks saved them, so that a run may
   * resume with another number of ranks; sets each optimizer's update count.
   */
  public void loadOptimizer(List<AdamW> optimizers) throws IOException {
    List<Moments> targets = new ArrayList<>();
    for (AdamW adam : optimizers) {
      targets.add(new Moments(adam.from(), adam.to(), adam.firstMoment(), adam.secondMoment()));
    }
    loadMoments(targets);
    for (AdamW adam : optimizers) {
      adam.restoreSteps(state.optimizerSteps());
    }
  }

  /**
   * Where moments go: those of parameters {@code [from, to)}, element i of each buffer for
   * parameter {@code from + i}.
   */
  public record Moments(long from, long to, Moment first, Moment second) {}

  /**
   * The bytes of {@code moment} in this process's memory, where cria's backends keep their buffers:
   * what a checkpoint writes from and reads into.
   */
  static MemorySegment hostBytes(Moment moment) {
    View start = moment.view(0);
    return start.buffer().asSlice(start.byteOffset(), moment.length() * moment.dtype().bytes());
  }

  /**
   * Fills each target's moments from the shards of whichever ranks saved them (the update count is
   * {@code state().optimizerSteps()}).
   */
  public void loadMoments(List<Moments> targets) throws IOException {
    try (MomentShards shards = openMoments()) {
      for (Moments target : targets) {
        shards.load(target);
      }
    }
  }

  /**
   * The optimizer shards, opened once for many loads (a rank that reads a tensor at a time): only
   * the shards the manifest lists (and whose checksums were checked); their ranges must not
   * overlap.
   */
  public MomentShards openMoments() throws IOException {
    return new MomentShards();
  }

  /** The optimizer shards of this checkpoint, open; {@link #load} fills a target's moments. */
  public final class MomentShards implements AutoCloseable {
    /** Moments read through the float scratch at a time into a bf16 target. */
    private static final int MOMENT_CHUNK = 1 << 18;

    private final List<SafetensorsFile> shards = new ArrayList<>();
    private final List<long[]> ranges = new ArrayList<>(); // {start, end, shard}
    private Arena scratch; // the floats a bf16 target is read through, made at the first
    private MemorySegment floats;

    private MomentShards() throws IOException {
      try {
        for (String name : manifest.files().keySet()) {
          if (name.startsWith(OPTIMIZER_DIR + "/") && name.endsWith(".safetensors")) {
            shards.add(SafetensorsFile.open(dir.resolve(name)));
          }
        }
        for (int i = 0; i < shards.size(); i++) {
          for (Map.Entry<String, SafetensorsFile.Entry> e : shards.get(i).entries().entrySet()) {
            if (e.getKey().startsWith(FIRST)) {
              long start;
              try {
                start = Long.parseLong(e.getKey().substring(FIRST.length()));
              } catch (NumberFormatException bad) {
                throw new CheckpointException(
                    dir + ": optimizer tensor " + e.getKey() + " has no start offset");
              }
              ranges.add(new long[] {start, start + e.getValue().elements(), i});
            }
          }
        }
        ranges.sort(java.util.Comparator.comparingLong(r -> r[0]));
        for (int i = 1; i < ranges.size(); i++) {
          if (ranges.get(i)[0] < ranges.get(i - 1)[1]) {
            throw new CheckpointException(
                dir + ": optimizer shards overlap at parameter " + ranges.get(i)[0]);
          }
        }
      } catch (IOException | RuntimeException e) {
        close();
        throw e;
      }
    }

    /** Fills {@code target}'s moments; throws when the shards do not hold all of them. */
    public void load(Moments target) {
      long covered = 0;
      for (long[] r : ranges) {
        long lo = Math.max(r[0], target.from());
        long hi = Math.min(r[1], target.to());
        if (lo >= hi) {
          continue;
        }
        SafetensorsFile shard = shards.get((int) r[2]);
        read(shard, FIRST + r[0], lo - r[0], hi - lo, target.first(), lo - target.from());
        read(shard, SECOND + r[0], lo - r[0], hi - lo, target.second(), lo - target.from());
        covered += hi - lo;
      }
      if (covered != target.to() - target.from()) {
        throw new CheckpointException(
            dir
                + ": the optimizer shards hold "
                + covered
                + " of the "
                + (target.to() - target.from())
                + " moments of parameters ["
                + target.from()
                + ", "
                + target.to()
                + ")");
      }
    }

    /**
     * Elements {@code [from, from + count)} of a shard's tensor into {@code into} at {@code at}:
     * directly into f32 moments, through one float buffer of a chunk into bf16 ones (exact for a
     * bf16-sr run's moments, whichever dtype the shard holds them in).
     */
    private void read(
        SafetensorsFile shard, String name, long from, long count, Moment into, long at) {
      if (into.dtype() == DType.F32) {
        shard.read(name, from, count, hostBytes(into), at);
        return;
      }
      if (floats == null) {
        scratch = Arena.ofShared();
        floats = scratch.allocate((long) MOMENT_CHUNK * Float.BYTES, 64);
      }
      for (long done = 0; done < count; done += MOMENT_CHUNK) {
        long n = Math.min(MOMENT_CHUNK, count - done);
        shard.read(name, from + done, n, floats, 0);
        into.copyFrom(View.f32(floats, 0), at + done, n);
      }
    }

    @Override
    public void close() {
      shards.forEach(SafetensorsFile::close);
      if (scratch != null) {
        scratch.close();
      }
    }
  }
}
