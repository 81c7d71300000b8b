package dev.cria.board;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
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

  /** The runs, by name (sorted), with their directories: one walk of the log directory. */
  SortedMap<String, Path> runs() throws IOException {
    SortedMap<String, Path> runs = new TreeMap<>();
    try (Stream<Path> s = Files.walk(logdir, DEPTH, FileVisitOption.FOLLOW_LINKS)) {
      s.filter(p ->
              p.getFileName() != null
                  && p.getFileName().toString().startsWith("events.out.tfevents."))
          .map(Path::getParent)
          .forEach(dir -> runs.put(name(dir), dir));
    }
    return runs;
  }

  /** The directory of the run called {@code name}, when it is one of {@link #runs()}. */
  Optional<Path> directory(String name) throws IOException {
    if (name == null || name.contains("\0")) {
      return Optional.empty();
    }
    return Optional.ofNullable(runs().get(name));
  }

  private String name(Path dir) {
    String rel = logdir.relativize(dir).toString();
    return rel.isEmpty() ? "." : rel;
  }
}
