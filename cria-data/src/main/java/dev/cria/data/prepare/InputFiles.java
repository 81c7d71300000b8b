package dev.cria.data.prepare;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Expands input arguments (files and globs such as {@code data/*.jsonl.gz}) into files. */
public final class InputFiles {
  private static final java.util.regex.Pattern JSONL =
      java.util.regex.Pattern.compile(".*\\.jsonl?(\\.gz|\\.zst)?");

  private InputFiles() {}

  /**
   * Each argument in order: a plain path must be a readable file or a directory (its {@code .jsonl}
   * and {@code .json} files, plain or compressed, sorted by name); a glob (with {@code * ? [ {})
   * in its file name) expands to the matching files of its directory, sorted by name, and must
   * match at least one.
   *
   * @throws NoSuchFileException naming the argument that matches nothing
   */
  public static List<Path> expand(List<String> arguments) throws IOException {
    List<Path> files = new ArrayList<>();
    for (String argument : arguments) {
      Path path = Path.of(argument);
      String name = path.getFileName() == null ? "" : path.getFileName().toString();
      if (!isGlob(name) && Files.isDirectory(path)) {
        // a directory: its JSONL files, as NeMo's preprocess_data_for_megatron.py takes one
        List<Path> inside;
        try (Stream<Path> listing = Files.list(path)) {
          inside =
              listing
                  .filter(p ->
                      Files.isRegularFile(p) && JSONL.matcher(p.getFileName().toString()).matches())
                  .sorted()
                  .toList();
        }
        if (inside.isEmpty()) {
          throw new NoSuchFileException(
              argument, null, "a directory without .jsonl/.json files (plain, .gz or .zst)");
        }
        files.addAll(inside);
        continue;
      }
      if (!isGlob(name)) {
        if (!Files.isRegularFile(path)) {
          throw new NoSuchFileException(argument, null, "no such input file");
        }
        files.add(path);
        continue;
      }
      Path dir = path.getParent() == null ? Path.of(".") : path.getParent();
      if (isGlob(dir.toString())) {
        throw new IllegalArgumentException(
            argument + ": globs are supported in the file name only");
      }
      PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + name);
      List<Path> matches;
      try (Stream<Path> listing = Files.list(dir)) {
        matches =
            listing
                .filter(p -> Files.isRegularFile(p) && matcher.matches(p.getFileName()))
                .sorted()
                .toList();
      } catch (NoSuchFileException e) {
        throw new NoSuchFileException(argument, null, "no such directory " + dir);
      }
      if (matches.isEmpty()) {
        throw new NoSuchFileException(argument, null, "no file matches");
      }
      for (Path m : matches) {
        files.add(path.getParent() == null ? m.getFileName() : m);
      }
    }
    return files;
  }

  private static boolean isGlob(String s) {
    return s.indexOf('*') >= 0 || s.indexOf('?') >= 0 || s.indexOf('[') >= 0 || s.indexOf('{') >= 0;
  }
}
