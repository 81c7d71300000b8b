package dev.cria.train;

import dev.cria.engine.backend.Backends;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.ConfigLayers;
import dev.cria.train.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The config of a training run, in layers: the defaults, then (when the run is continued) the
 * config saved with its newest checkpoint, then the user's YAML file, then the command line's
 * overrides. So the same command, or a bare {@code --run-dir}, resumes a run as it was.
 */
public final class RunConfig {
  /**
   * What the user asked for.
   *
   * @param configFile the YAML file, or null
   * @param overrides dotted keys and their values from the command line ({@code
   *     trainer.max_steps}), in the order given; the {@code run_dir} key among them is where the
   *     run goes
   * @param resume whether an existing run (or checkpoint) is continued
   * @param overwrite whether an existing run is replaced
   * @param resumeFrom a checkpoint or run directory to branch from, or null
   * @param initFrom a Hugging Face model to start from, or null
   * @param assignments Hydra-style {@code key=value} arguments, applied to the config file's keys
   *     (NeMo's layout or cria's) before the flags
   */
  public record Request(
      Path configFile,
      Map<String, Object> overrides,
      boolean resume,
      boolean overwrite,
      Path resumeFrom,
      Path initFrom,
      List<String> assignments) {
    public Request {
      overrides = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(overrides));
      assignments = List.copyOf(assignments);
    }

    /** A request without Hydra-style arguments. */
    public Request(
        Path configFile,
        Map<String, Object> overrides,
        boolean resume,
        boolean overwrite,
        Path resumeFrom,
        Path initFrom) {
      this(configFile, overrides, resume, overwrite, resumeFrom, initFrom, List.of());
    }
  }

  /**
   * A resolved config and what the user should hear about it once.
   *
   * @param notes the config file's keys that have no effect in cria, a line per reason
   * @param nemo whether the config file was in NeMo's layout
   */
  public record Resolved(TrainConfig config, List<String> notes, boolean nemo) {
    public Resolved {
      notes = List.copyOf(notes);
    }
  }

  private RunConfig() {}

  /**
   * The resolved, checked config; every mistake is a {@link ConfigException} naming the file and
   * key, and a backend that is not on this machine is named with the ones that are.
   */
  public static TrainConfig resolve(Request r) {
    return read(r).config();
  }

  /** {@link #resolve} with the notes about the config file. */
  public static Resolved read(Request r) {
    return read(r, true);
  }

  /**
   * {@link #read}, for a plan that needs no data ({@code cria compile}): a config without {@code
   * data.data_prefix} is accepted, and its data prefix is then empty.
   */
  public static Resolved readForPlan(Request r) {
    return read(r, false);
  }

  private static Resolved read(Request r, boolean dataRequired) {
    ConfigLayers layers = layered(r);
    TrainConfig c = layers.bind(dataRequired);
    if (!Backends.names().contains(c.trainer().backend())) {
      throw new ConfigException(
          "trainer.backend '"
              + c.trainer().backend()
              + "' is not one of "
              + String.join(", ", Backends.names()));
    }
    return new Resolved(c, layers.notes(), layers.nemo());
  }

  private static ConfigLayers layered(Request r) {
    if (r.resumeFrom() != null && r.initFrom() != null) {
      throw new ConfigException(
          "--resume-from and --init-from exclude each other: a checkpoint has its own weights");
    }
    Object runDirFlag = r.overrides().get("run_dir");
    ConfigLayers fresh = layers(r, null);
    if (!r.resume() && r.resumeFrom() == null) {
      return fresh;
    }
    String freshRunDir = fresh.tree().path("run_dir").asString("");
    Path saved = savedConfigOf(r.resumeFrom() != null ? r.resumeFrom() : Path.of(freshRunDir));
    if (!Files.isRegularFile(saved)) {
      if (r.resumeFrom() != null) {
        throw new ConfigException(
            "--resume-from "
                + r.resumeFrom()
                + ": neither a checkpoint (manifest.json,"
                + " config.yaml) nor a run directory (config.yaml)");
      }
      return fresh;
    }
    ConfigLayers resumed = layers(r, saved);
    String resumedRunDir = resumed.tree().path("run_dir").asString("");
    if (r.resumeFrom() != null && runDirFlag == null && !freshRunDir.equals(resumedRunDir)) {
      throw new ConfigException(
          "--resume-from needs --run-dir: where the continued run writes (the checkpoint's"
              + " run is "
              + resumedRunDir
              + ")");
    }
    if (r.resumeFrom() != null) { // the run directory as the flags or the files name it
      Path runDir = Path.of(resumedRunDir);
      boolean ownHistory = real(r.resumeFrom()).startsWith(real(runDir));
      if (r.overwrite() && ownHistory) {
        throw new ConfigException(
            "--overwrite would delete the checkpoint --resume-from names ("
                + r.resumeFrom()
                + " is in "
                + runDir
                + ")");
      }
      if (!r.overwrite() && !ownHistory) {
        requireNoOtherCheckpoints(r.resumeFrom(), runDir);
      }
    }
    return resumed;
  }

  /**
   * A branch ({@code --resume-from} a checkpoint of another run) into a run directory that holds
   * checkpoints of its own would mix two runs there, its later checkpoints set aside and its
   * earlier ones left beside the branch's: refused, with how to continue that run instead (the same
   * branch command run again after a crash would otherwise go back to the checkpoint it names).
   * Asked only for a checkpoint outside the run (one of its own is its history, to go back to).
   */
  private static void requireNoOtherCheckpoints(Path resumeFrom, Path runDir) {
    List<Path> own;
    try {
      own = Checkpoints.list(runDir);
    } catch (IOException e) {
      throw new ConfigException(Checkpoints.directory(runDir) + ": cannot list: " + e.getMessage());
    }
    if (!own.isEmpty()) {
      throw new ConfigException(
          "--run-dir "
              + runDir
              + " already holds a run with checkpoints (the newest "
              + own.getLast().getFileName()
              + "), which --resume-from "
              + resumeFrom
              + " is not one of: to continue that run, run cria train --run-dir "
              + runDir
              + " without --resume-from; to branch from "
              + resumeFrom
              + ", pick a new --run-dir, or pass --overwrite to replace that run");
    }
  }

  /** {@code path} with its symbolic links followed when it exists, else absolute and normal. */
  private static Path real(Path path) {
    try {
      return path.toRealPath();
    } catch (IOException e) {
      return path.toAbsolutePath().normalize();
    }
  }

  /** The checkpoint's saved config, else the run directory's {@code config.yaml}. */
  private static Path savedConfigOf(Path checkpointOrRun) {
    try {
      return Checkpoints.savedConfig(checkpointOrRun)
          .orElse(checkpointOrRun.resolve(RunDirectory.CONFIG));
    } catch (IOException e) {
      throw new ConfigException(
          Checkpoints.directory(checkpointOrRun) + ": cannot list: " + e.getMessage());
    }
  }

  private static ConfigLayers layers(Request r, Path savedConfig) {
    return ConfigLayers.merge(savedConfig, r.configFile(), r.assignments(), r.overrides());
  }
}
