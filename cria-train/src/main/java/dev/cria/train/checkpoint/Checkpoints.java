package dev.cria.train.checkpoint;

import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** The checkpoints of a run: {@code <run>/checkpoints/step-<N>/}, found, chosen and pruned. */
public final class Checkpoints {
  public static final String DIR = "checkpoints";
  private static final Pattern STEP = Pattern.compile("step-(\\d+)");

  /** Prefix of a step's old copy while the step is saved again. */
  static final String REPLACED = ".replaced-";

  private Checkpoints() {}

  /**
   * The config a resumed run starts from, when {@code checkpointOrRun} has one: a checkpoint's own,
   * or, for a run directory, its newest checkpoint's (written once, with the checkpoint, so a
   * failed attempt that rewrote the run's {@code config.yaml} does not carry over).
   */
  public static Optional<Path> savedConfig(Path checkpointOrRun) throws IOException {
    if (Files.isRegularFile(checkpointOrRun.resolve(Manifest.FILE))) {
      return Optional.of(checkpointOrRun.resolve(Checkpoint.CONFIG));
    }
    for (Path step : list(checkpointOrRun).reversed()) {
      if (Files.isRegularFile(step.resolve(Checkpoint.CONFIG))) {
        return Optional.of(step.resolve(Checkpoint.CONFIG));
      }
    }
    return Optional.empty();
  }

  /** {@code <run>/checkpoints}. */
  public static Path directory(Path runDir) {
    return runDir.resolve(DIR);
  }

  /** {@code <run>/checkpoints/step-<step>}. */
  public static Path stepDirectory(Path runDir, long step) {
    return directory(runDir).resolve("step-" + step);
  }

  /** The finished-looking step directories, oldest first (not checked). */
  public static List<Path> list(Path runDir) throws IOException {
    Path dir = directory(runDir);
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(
              p -> STEP.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p))
          .sorted(Comparator.comparingLong(Checkpoints::stepOf))
          .toList();
    }
  }

  /** The step in a {@code step-<N>} directory's name. */
  public static long stepOf(Path stepDir) {
    Matcher m = STEP.matcher(stepDir.getFileName().toString());
    if (!m.matches()) {
      throw new IllegalArgumentException(stepDir + " is not a step-<N> directory");
    }
    return Long.parseLong(m.group(1));
  }

  /**
   * The newest checkpoint of the run whose files match their manifest. Each one passed over is told
   * to {@code report} with what is wrong with it.
   */
  public static Optional<Checkpoint> newestValid(Path runDir, Consumer<String> report)
      throws IOException {
    return newestValid(runDir, report, false);
  }

  /** As above; with {@code modelOnly} the files are checked as {@link Checkpoint#verifyModel}. */
  private static Optional<Checkpoint> newestValid(
      Path runDir, Consumer<String> report, boolean modelOnly) throws IOException {
    List<Path> all = new ArrayList<>(list(runDir));
    for (int i = all.size() - 1; i >= 0; i--) {
      try {
        Checkpoint opened = Checkpoint.open(all.get(i));
        Checkpoint c = modelOnly ? opened.verifyModel() : opened.verify();
        if (c.step() != stepOf(all.get(i))) {
          throw new CheckpointException(all.get(i) + ": its manifest is for step " + c.step());
        }
        return Optional.of(c);
      } catch (IOException | RuntimeException e) { // damaged in any way: the one before it may do
        report.accept(
            "checkpoint "
                + all.get(i)
                + " is not usable: "
                + describe(e)
                + (i > 0 ? "; trying " + all.get(i - 1).getFileName() : ""));
      }
    }
    return Optional.empty();
  }

  /**
   * The checkpoints to try, newest first: {@code path} itself when it is a checkpoint, else the
   * checkpoints of the run directory {@code path}. Nothing is opened or checked.
   */
  public static List<Path> candidates(Path path) throws IOException {
    if (Files.isRegularFile(path.resolve(Manifest.FILE))) {
      return List.of(path);
    }
    if (Files.isDirectory(directory(path))) {
      return list(path).reversed();
    }
    if (Files.isRegularFile(path.resolve("config.yaml"))) {
      return List.of(); // a run without a checkpoint yet
    }
    throw new CheckpointException(
        path
            + ": neither a checkpoint ("
            + Manifest.FILE
            + ") nor a run directory with "
            + DIR
            + "/");
  }

  /** What is wrong with a checkpoint, in a line (also for exceptions without a message). */
  public static String describe(Exception e) {
    String m = e.getMessage();
    return m != null && !m.isBlank() ? m : e.toString();
  }

  /**
   * A checkpoint named by the user to read a trained model from: a {@code step-<N>} directory, or a
   * run directory (its newest valid checkpoint). Checked against its manifest as {@link
   * Checkpoint#verifyModel} checks it: the optimizer's shards are neither read nor needed.
   */
  public static Checkpoint resolve(Path path, Consumer<String> report) throws IOException {
    if (Files.isRegularFile(path.resolve(Manifest.FILE))) {
      return Checkpoint.open(path).verifyModel();
    }
    if (Files.isDirectory(directory(path))) {
      return newestValid(path, report, true)
          .orElseThrow(
              () -> new CheckpointException(path + ": no usable checkpoint in " + directory(path)));
    }
    throw new CheckpointException(
        path
            + ": neither a checkpoint ("
            + Manifest.FILE
            + ") nor a run directory with "
            + DIR
            + "/");
  }

  /**
   * Deletes all but the newest {@code keep} finished checkpoints, oldest first; returns those
   * deleted.
   */
  public static List<Path> prune(Path runDir, int keep) throws IOException {
    List<Path> all = list(runDir);
    List<Path> deleted = new ArrayList<>();
    for (int i = 0; i < all.size() - keep; i++) {
      // Rename first, so that a crash halfway through never leaves a step-N that looks whole.
      Path doomed = all.get(i).resolveSibling(".deleting-" + all.get(i).getFileName());
      Files.move(all.get(i), doomed);
      AtomicFiles.deleteTree(doomed);
      deleted.add(all.get(i));
    }
    return deleted;
  }

  /**
   * Deletes unfinished saves ({@code .step-N.partial}) and interrupted deletions ({@code
   * .deleting-step-N}, from pruning). A {@code .replaced-step-N} (the old copy of a step being
   * saved again) goes too once the new {@code step-N} is in place, and is put back when a crash
   * came between the two renames.
   */
  public static void removeLeftovers(Path runDir) throws IOException {
    Path dir = directory(runDir);
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.toList()) {
        String name = p.getFileName().toString();
        if (name.startsWith(REPLACED)
            && !Files.exists(dir.resolve(name.substring(REPLACED.length())))) {
          Files.move(p, dir.resolve(name.substring(REPLACED.length())));
        } else if (name.startsWith(".step-")
            || name.startsWith(".deleting-")
            || name.startsWith(REPLACED)) {
          AtomicFiles.deleteTree(p);
        }
      }
    }
  }

  /**
   * Moves the checkpoints after {@code step} out of the way ({@code abandoned-step-M}, or {@code
   * abandoned-step-M.2}, {@code .3}, ... beside one set aside before), when a run continues from an
   * earlier point: they belong to a line of training that is no longer the run's, and must neither
   * be resumed later nor count for {@code keep_last}. Returns the new names.
   */
  public static List<Path> setAsideAfter(Path runDir, long step) throws IOException {
    return setAsideAfter(runDir, step, null);
  }

  /**
   * As {@link #setAsideAfter(Path, long)}, never moving {@code chosen} (the checkpoint the run
   * continues from, which a user may have named although its directory says a later step).
   */
  public static List<Path> setAsideAfter(Path runDir, long step, Path chosen) throws IOException {
    List<Path> moved = new ArrayList<>();
    for (Path p : list(runDir)) {
      if (stepOf(p) > step
          && (chosen == null
              || !p.toAbsolutePath().normalize().equals(chosen.toAbsolutePath().normalize()))) {
        // one set aside before (another try from an earlier step) is kept: the next free name
        Path target = p.resolveSibling("abandoned-" + p.getFileName());
        for (int n = 2; Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS); n++) {
          target = p.resolveSibling("abandoned-" + p.getFileName() + "." + n);
        }
        Files.move(p, target);
        moved.add(target);
      }
    }
    return moved;
  }
}
