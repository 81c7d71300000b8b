package dev.cria.train;

import dev.cria.engine.backend.Backends;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import tools.jackson.databind.node.ObjectNode;

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
   */
  public record Request(
      Path configFile,
      Map<String, Object> overrides,
      boolean resume,
      boolean overwrite,
      Path resumeFrom,
      Path initFrom) {
    public Request {
      overrides = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(overrides));
    }
  }

  private RunConfig() {}

  /**
   * The resolved, checked config; every mistake is a {@link ConfigException} naming the file and
   * key, and a backend that is not on this machine is named with the ones that are.
   */
  public static TrainConfig resolve(Request r) {
    TrainConfig c = layered(r);
    if (!Backends.names().contains(c.trainer().backend())) {
      throw new ConfigException(
          "trainer.backend '"
              + c.trainer().backend()
              + "' is not one of "
              + String.join(", ", Backends.names()));
    }
    return c;
  }

  private static TrainConfig layered(Request r) {
    if (r.resumeFrom() != null && r.initFrom() != null) {
      throw new ConfigException(
          "--resume-from and --init-from exclude each other: a checkpoint has its own weights");
    }
    Object runDirFlag = r.overrides().get("run_dir");
    if (r.resumeFrom() != null
        && r.overwrite()
        && runDirFlag != null
        && r.resumeFrom()
            .toAbsolutePath()
            .normalize()
            .startsWith(Path.of(runDirFlag.toString()).toAbsolutePath().normalize())) {
      throw new ConfigException(
          "--overwrite would delete the checkpoint --resume-from names ("
              + r.resumeFrom()
              + " is in "
              + runDirFlag
              + ")");
    }
    Layers fresh = layers(r, null);
    if (!r.resume() && r.resumeFrom() == null) {
      return fresh.bind();
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
      return fresh.bind();
    }
    TrainConfig resumed = layers(r, saved).bind();
    if (r.resumeFrom() != null && runDirFlag == null && !freshRunDir.equals(resumed.runDir())) {
      throw new ConfigException(
          "--resume-from needs --run-dir: where the continued run writes (the checkpoint's"
              + " run is "
              + resumed.runDir()
              + ")");
    }
    return resumed;
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

  /** The config's layers merged into a tree, not yet checked, and the sources that made it. */
  private record Layers(ObjectNode tree, String source) {
    TrainConfig bind() {
      return TrainConfigFile.bind(tree, source);
    }
  }

  private static Layers layers(Request r, Path savedConfig) {
    ObjectNode tree = TrainConfigFile.defaults();
    String source = "flags";
    if (savedConfig != null) {
      ObjectNode saved = TrainConfigFile.read(savedConfig);
      if (saved.get("trainer") instanceof ObjectNode trainer) {
        trainer.remove(
            "threads"); // this machine's, not the run's (the launcher sets it per worker)
      }
      TrainConfigFile.merge(tree, saved);
      source = savedConfig + (r.configFile() != null ? ", " : " and ") + source;
    }
    if (r.configFile() != null) {
      TrainConfigFile.merge(tree, TrainConfigFile.read(r.configFile()));
      source = (savedConfig != null ? savedConfig + ", " : "") + r.configFile() + " and flags";
    }
    r.overrides()
        .forEach((key, value) -> {
          if (value != null) {
            TrainConfigFile.set(tree, key, value);
          }
        });
    return new Layers(tree, source);
  }
}
