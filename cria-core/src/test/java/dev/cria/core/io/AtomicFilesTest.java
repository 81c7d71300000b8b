package dev.cria.core.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
  @TempDir Path dir;

  @Test
  void writeCreatesMissingParentsAndLeavesNoTemporaryBehind() throws IOException {
    Path target = dir.resolve("a/b/file.txt");
    AtomicFiles.writeString(target, "hello");
    assertThat(target).hasContent("hello");
    assertThat(entries(target.getParent())).containsExactly("file.txt");
  }

  @Test
  void writeReplacesAnExistingFileWhole() throws IOException {
    Path target = dir.resolve("config.yaml");
    AtomicFiles.writeString(target, "old and longer text");
    AtomicFiles.writeString(target, "new");
    assertThat(target).hasContent("new");
    assertThat(entries(dir)).containsExactly("config.yaml");
  }

  @Test
  void aFailedWriteKeepsTheOldFileAndRemovesItsTemporary() throws IOException {
    Path target = dir.resolve("kept.txt");
    AtomicFiles.writeString(target, "before");
    Path blocker = dir.resolve("not-a-dir");
    Files.writeString(blocker, "x");
    // the parent of this target is a file: the write must fail without touching anything else
    assertThatThrownBy(() -> AtomicFiles.writeString(blocker.resolve("child"), "after"))
        .isInstanceOf(IOException.class);
    assertThat(target).hasContent("before");
    assertThat(entries(dir)).containsExactlyInAnyOrder("kept.txt", "not-a-dir");
  }

  @Test
  void theTemporarySiblingIsHiddenInTheSameDirectoryAndUnique() {
    Path target = dir.resolve("model.safetensors");
    Path a = AtomicFiles.temporarySibling(target);
    Path b = AtomicFiles.temporarySibling(target);
    assertThat(a.getParent()).isEqualTo(dir.toAbsolutePath());
    assertThat(a.getFileName().toString())
        .startsWith(".model.safetensors.tmp-" + ProcessHandle.current().pid());
    assertThat(a).isNotEqualTo(b);
  }

  @Test
  void renameMovesAFinishedTemporaryOverTheTarget() throws IOException {
    Path target = dir.resolve("big.bin");
    Files.writeString(target, "old");
    Path tmp = AtomicFiles.temporarySibling(target);
    Files.writeString(tmp, "new");
    AtomicFiles.rename(tmp, target);
    assertThat(target).hasContent("new");
    assertThat(tmp).doesNotExist();
  }

  @Test
  void aDirectoryIsNeverReplacedByAFileEvenWhenEmpty() throws IOException {
    Path empty = Files.createDirectories(dir.resolve("out"));
    Path full = Files.createDirectories(dir.resolve("full"));
    Files.writeString(full.resolve("mine.txt"), "the user's");
    for (Path target : new Path[] {empty, full}) {
      assertThatThrownBy(() -> AtomicFiles.writeString(target, "yaml"))
          .isInstanceOf(java.nio.file.FileSystemException.class)
          .hasMessage(target + ": is a directory; give the path of a file");
      Path tmp = AtomicFiles.temporarySibling(target);
      Files.writeString(tmp, "new");
      assertThatThrownBy(() -> AtomicFiles.rename(tmp, target))
          .hasMessage(target + ": is a directory; give the path of a file");
      Files.delete(tmp);
      assertThat(target).isDirectory();
    }
    assertThat(full.resolve("mine.txt")).hasContent("the user's");
    assertThat(entries(dir)).containsExactlyInAnyOrder("out", "full");
  }

  @Test
  void copyMakesAnIdenticalFile() throws IOException {
    Path source = dir.resolve("source");
    Files.write(source, new byte[] {1, 2, 3, 0, -1});
    Path target = dir.resolve("copy/target");
    AtomicFiles.copy(source, target);
    assertThat(Files.readAllBytes(target)).containsExactly(1, 2, 3, 0, -1);
    assertThat(entries(target.getParent())).containsExactly("target");
  }

  @Test
  void deleteTreeRemovesEverythingBelowAndIgnoresNullOrMissing() throws IOException {
    Path root = dir.resolve("tree");
    Files.createDirectories(root.resolve("x/y"));
    Files.writeString(root.resolve("x/y/z"), "z");
    Files.writeString(root.resolve("top"), "t");
    AtomicFiles.deleteTree(root);
    assertThat(root).doesNotExist();
    AtomicFiles.deleteTree(root);
    AtomicFiles.deleteTree(null);
  }

  @Test
  void temporariesOfADeadProcessAreRemovedAndALiveOnesKept() throws Exception {
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    Path target = dir.resolve("brown_text_document.bin");
    Path stale = dir.resolve(".brown_text_document.bin.tmp-" + gone.pid() + "-17");
    Path live =
        dir.resolve(".brown_text_document.bin.tmp-" + ProcessHandle.current().pid() + "-18");
    Path other = dir.resolve(".other.bin.tmp-" + gone.pid() + "-19");
    for (Path p : java.util.List.of(stale, live, other)) {
      Files.writeString(p, "partial");
    }
    assertThat(AtomicFiles.removeStaleTemporaries(target)).isEqualTo(1);
    assertThat(stale).doesNotExist();
    assertThat(live).exists();
    assertThat(other).exists();
  }

  private static java.util.List<String> entries(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).toList();
    }
  }
}
