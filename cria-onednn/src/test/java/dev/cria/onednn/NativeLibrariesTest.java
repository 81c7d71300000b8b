package dev.cria.onednn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibrariesTest {
  @TempDir Path tmp;

  @Test
  void unpacksBothLibrariesOnceAndLeavesNoTemporaryCopy() throws IOException {
    Path dir = NativeLibraries.unpackInto(tmp, "onednn-test");
    assertThat(dir).isEqualTo(tmp.resolve("onednn-test"));
    for (String library : NativeLibraries.LIBRARIES) {
      assertThat(Files.size(dir.resolve(library))).as(library).isGreaterThan(100_000);
    }
    assertThat(Files.readString(dir.resolve(".complete")))
        .isEqualTo(NativeLibraries.artifactVersion() + "\n");
    FileTime written = Files.getLastModifiedTime(dir.resolve("libdnnl.so.3"));
    Files.setLastModifiedTime(dir.resolve("libdnnl.so.3"), FileTime.fromMillis(1_000_000));

    assertThat(NativeLibraries.unpackInto(tmp, "onednn-test")).isEqualTo(dir);
    assertThat(Files.getLastModifiedTime(dir.resolve("libdnnl.so.3")).toMillis())
        .as("a complete copy is reused, not rewritten (was %s)", written)
        .isEqualTo(1_000_000);
    try (Stream<Path> files = Files.list(tmp)) {
      assertThat(files).containsExactly(dir);
    }
  }

  @Test
  void aDirectoryWithoutTheCompletionMarkIsNotUsedNorDeleted() throws IOException {
    Path foreign = Files.createDirectories(tmp.resolve("onednn-test"));
    Files.writeString(foreign.resolve("libdnnl.so.3"), "not a library");
    assertThatThrownBy(() -> NativeLibraries.unpackInto(tmp, "onednn-test"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("is not a complete unpacking");
    assertThat(Files.readString(foreign.resolve("libdnnl.so.3"))).isEqualTo("not a library");
    try (Stream<Path> files = Files.list(tmp)) {
      assertThat(files).containsExactly(foreign);
    }
  }

  @Test
  void theArtifactVersionIsTheDependencysOwn() {
    assertThat(NativeLibraries.artifactVersion()).matches("\\d+\\.\\d+-\\d+\\.\\d+\\.\\d+");
  }
}
