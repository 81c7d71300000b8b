package dev.cria.k8s;

import dev.cria.core.run.RankStatus;
import dev.cria.core.run.StatusFiles;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;

/**
 * The runs on the shared volume as this machine sees it, when the volume is mounted here too
 * ({@code --shared-local DIR}): each rank's status file, and a run's removal on request.
 */
public final class SharedRuns {
  private SharedRuns() {}

  /** The run directory of {@code job} under the locally mounted shared volume. */
  public static Path runDir(Path sharedLocal, String job) {
    if (job == null || !job.matches("[a-z]([-a-z0-9]*[a-z0-9])?")) {
      throw new K8sException("'" + job + "' is not a job name (a DNS label)");
    }
    return sharedLocal.resolve("cria").resolve("runs").resolve(job);
  }

  /** Every rank's status, rank 0 first; empty before the ranks have written any. */
  public static List<RankStatus> ranks(Path sharedLocal, String job) throws IOException {
    Path run = runDir(sharedLocal, job);
    return Files.isDirectory(run) ? StatusFiles.readAll(run) : List.of();
  }

  /**
   * Deletes the run directory of {@code job}, only if it is a cria run (it holds the {@code
   * config.yaml} cria writes); returns how many files went. Anything else is refused, untouched.
   */
  public static long deleteRun(Path sharedLocal, String job) throws IOException {
    Path run = runDir(sharedLocal, job);
    if (!Files.isDirectory(run)) {
      throw new K8sException(run + ": no such run directory");
    }
    if (!Files.isRegularFile(run.resolve("config.yaml"))) {
      throw new K8sException(
          run + " holds no config.yaml: not a run cria made, so it is left as it is");
    }
    long[] files = {0};
    Files.walkFileTree(
        run,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            Files.delete(file);
            files[0]++;
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
            if (e != null) {
              throw e;
            }
            Files.delete(dir);
            return FileVisitResult.CONTINUE;
          }
        });
    return files[0];
  }
}
