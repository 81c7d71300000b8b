package dev.cria.train;

import dev.cria.core.io.AtomicFiles;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * A run's directory on shared storage, laid out as NeMo and the blueprint lay it out: {@code
 * config.yaml} (the resolved config), {@code <rank>/log}, TensorBoard event files, {@code
 * checkpoints/} and {@code index_cache/} for the sample indices. A run is named, not keyed by a
 * process or pod, so the same command run again continues it.
 */
public final class RunDirectory {
  public static final String CONFIG = "config.yaml";

  private final Path root;

  private RunDirectory(Path root) {
    this.root = root;
  }

  public Path root() {
    return root;
  }

  /**
   * Creates the directory and writes {@code config.yaml}. A directory that already holds a run is
   * refused unless {@code overwrite}, which removes that run's config, logs, event files and
   * checkpoints (the index cache stays: it is keyed by its inputs).
   */
  public static RunDirectory create(TrainConfig config, boolean overwrite) throws IOException {
    return create(config, overwrite, false);
  }

  /**
   * As {@link #create(TrainConfig, boolean)}, but with {@code resume} a directory that holds a run
   * is kept as it is, to be continued: only its {@code config.yaml} is replaced by {@code config}.
   */
  public static RunDirectory create(TrainConfig config, boolean overwrite, boolean resume)
      throws IOException {
    Path root = Path.of(config.runDir());
    requireAvailable(config, overwrite, resume);
    if (Files.exists(root.resolve(CONFIG)) && overwrite) {
      clear(root);
    }
    Files.createDirectories(root);
    AtomicFiles.writeString(root.resolve(CONFIG), TrainConfigFile.toYaml(config));
    return new RunDirectory(root);
  }

  /** The run directory that rank 0 has created (other ranks of a group open it). */
  public static RunDirectory open(TrainConfig config) {
    Path root = Path.of(config.runDir());
    if (!Files.isRegularFile(root.resolve(CONFIG))) {
      throw new ConfigException("run_dir " + root + " has no " + CONFIG + " (rank 0 creates it)");
    }
    return new RunDirectory(root);
  }

  /** Checks, writing nothing, that {@link #create} will not refuse the run directory. */
  public static void requireAvailable(TrainConfig config, boolean overwrite) {
    requireAvailable(config, overwrite, false);
  }

  /**
   * Checks, writing nothing, that {@link #create(TrainConfig, boolean, boolean)} will not refuse
   * it.
   */
  public static void requireAvailable(TrainConfig config, boolean overwrite, boolean resume) {
    Path root = Path.of(config.runDir());
    if (Files.exists(root.resolve(CONFIG)) && !overwrite && !resume) {
      throw new ConfigException(
          "run_dir "
              + root
              + " already holds a run ("
              + CONFIG
              + "); continue it without --no-resume, pick another --run-dir or pass --overwrite to replace it");
    }
    if (Files.exists(root) && !Files.isDirectory(root)) {
      throw new ConfigException("run_dir " + root + " is a file, not a directory");
    }
  }

  private static void clear(Path root) throws IOException {
    List<Path> entries;
    try (Stream<Path> s = Files.list(root)) {
      entries = s.toList();
    }
    for (Path p : entries) {
      String name = p.getFileName().toString();
      if (name.equals(CONFIG) || name.startsWith("events.out.tfevents.")) {
        Files.delete(p);
      } else if ((name.matches("\\d+") || name.equals("checkpoints")) && Files.isDirectory(p)) {
        AtomicFiles.deleteTree(p);
      }
    }
  }
}
