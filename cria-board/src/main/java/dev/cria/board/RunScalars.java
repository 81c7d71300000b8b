package dev.cria.board;

import dev.cria.core.tensorboard.TensorBoardEvents;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The scalars of every run's event files, read once and again only when a file has grown: a run
 * directory may hold several files (a resumed run starts a new one), whose values are merged by tag
 * and step with the newest file winning, so a resumed run's repeated steps show the values of the
 * run that went on, not a zig-zag.
 */
final class RunScalars {
  private record Parsed(long size, long modified, TensorBoardEvents.Contents contents) {}

  private final Map<Path, Parsed> files = new ConcurrentHashMap<>();

  /** Every tag of the run in {@code dir}, merged across its event files. */
  Map<String, Series> of(Path dir) throws IOException {
    Map<String, TreeMap<Long, double[]>> merged = new TreeMap<>();
    for (Path f : eventFiles(dir)) {
      for (TensorBoardEvents.Scalar s : parsed(f).scalars()) {
        merged
            .computeIfAbsent(s.tag(), t -> new TreeMap<>())
            .put(s.step(), new double[] {s.wallTime(), s.value()});
      }
    }
    Map<String, Series> out = new TreeMap<>();
    merged.forEach((tag, points) -> {
      long[] steps = new long[points.size()];
      double[] wall = new double[points.size()];
      double[] values = new double[points.size()];
      int i = 0;
      for (Map.Entry<Long, double[]> e : points.entrySet()) {
        steps[i] = e.getKey();
        wall[i] = e.getValue()[0];
        values[i] = e.getValue()[1];
        i++;
      }
      out.put(tag, new Series(tag, steps, wall, values));
    });
    return out;
  }

  /** The run's event files, oldest first (their names carry the time they were created). */
  static List<Path> eventFiles(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p ->
              p.getFileName().toString().startsWith("events.out.tfevents.")
                  && Files.isRegularFile(p))
          .sorted(
              (a, b) -> compareEventFiles(a.getFileName().toString(), b.getFileName().toString()))
          .toList();
    }
  }

  private static int compareEventFiles(String a, String b) {
    long ta = createdAt(a);
    long tb = createdAt(b);
    return ta != tb ? Long.compare(ta, tb) : a.compareTo(b);
  }

  private static long createdAt(String name) {
    String[] parts = name.split("\\.");
    try {
      return Long.parseLong(parts[3]);
    } catch (RuntimeException e) {
      return 0;
    }
  }

  private TensorBoardEvents.Contents parsed(Path f) throws IOException {
    BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
    Parsed p = files.get(f);
    if (p == null || p.size() != a.size() || p.modified() != a.lastModifiedTime().toMillis()) {
      p = new Parsed(a.size(), a.lastModifiedTime().toMillis(), TensorBoardEvents.readLive(f));
      files.put(f, p);
    }
    return p.contents();
  }
}
