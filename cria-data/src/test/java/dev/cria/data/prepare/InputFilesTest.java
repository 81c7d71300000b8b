package dev.cria.data.prepare;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InputFilesTest {
  @TempDir Path dir;

  @Test
  void aDirectoryGivesItsJsonlFilesInNameOrder() throws IOException {
    for (String name : List.of("b.jsonl.gz", "a.jsonl", "c.json.zst", "notes.txt", "d.jsonl.bak")) {
      Files.writeString(dir.resolve(name), "");
    }
    Files.createDirectories(dir.resolve("sub.jsonl"));
    assertThat(InputFiles.expand(List.of(dir.toString())))
        .containsExactly(
            dir.resolve("a.jsonl"), dir.resolve("b.jsonl.gz"), dir.resolve("c.json.zst"));
  }

  @Test
  void aDirectoryWithoutJsonlAndAMissingFileAreNamed() throws IOException {
    Path empty = Files.createDirectories(dir.resolve("empty"));
    assertThatThrownBy(() -> InputFiles.expand(List.of(empty.toString())))
        .hasMessageContaining("empty")
        .hasMessageContaining("a directory without .jsonl/.json files");
    assertThatThrownBy(() -> InputFiles.expand(List.of(dir.resolve("gone.jsonl").toString())))
        .hasMessageContaining("gone.jsonl")
        .hasMessageContaining("no such input file");
  }
}
