package dev.cria.board;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The runs under the board's log directory: every directory (the log directory itself included,
 * four levels down at most) that holds TensorBoard event files, named by its path relative to the
 * log directory, as TensorBoard names runs. A run is looked up only among these, so no request can
 * reach a path outside the log directory.
 */
final class RunIndex {
  private static final int DEPTH = 4;

  private final Path logdir;

  RunIndex(Path logdir) {
    this.logdir = logdir.toAbsolutePath().normalize();
  }

  Path logdir() {
    return logdir;
  }

  /** The runs' names, sorted. */
  List<String> names() throws IOException {
    try (Stream<Path> s = Files.walk(logdir, DEPTH, FileVisitOption.FOLLOW_LINKS)) {
      return s.filter(p ->
              p.getFileName() != null
                  && p.getFileName().toString().startsWith("events.out.tfevents."))
          .map(Path::getParent)
          .distinct()
          .map(this::name)
          .sorted()
          .toList();
    }
  }

  /** The directory of the run called {@code name}, when it is one of {@link #names()}. */
  Optional<Path> directory(String name) throws IOException {
    if (name == null || name.contains("\0")) {
      return Optional.empty();
    }
    Path dir = logdir.resolve(name.equals(".") ? "" : name).normalize();
    if (!dir.startsWith(logdir) || !names().contains(name(dir))) {
      return Optional.empty();
    }
    return Optional.of(dir);
  }

  private String name(Path dir) {
    String rel = logdir.relativize(dir).toString();
    return rel.isEmpty() ? "." : rel;
  }
}
