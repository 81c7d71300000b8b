package dev.cria.data.indexed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IndexedDatasetMergeTest {
  @TempDir Path tmp;

  /** A dataset of {@code documents}, each a list of sequences. */
  private Path dataset(String name, TokenDtype dtype, int[][][] documents) throws IOException {
    Path prefix = tmp.resolve(name);
    try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, dtype)) {
      for (int[][] document : documents) {
        for (int[] sequence : document) {
          w.addSequence(sequence, 0, sequence.length);
        }
        w.endDocument();
      }
      w.commit();
    }
    return prefix;
  }

  @Test
  void documentsOfSeveralSequencesKeepTheirShapeInOrder() throws IOException {
    Path a = dataset("a", TokenDtype.INT32, new int[][][] {{{1, 2}, {3}}, {{70000}}});
    Path b = dataset("b", TokenDtype.INT32, new int[][][] {});
    Path c = dataset("c", TokenDtype.INT32, new int[][][] {{{4}, {}, {5, 6, 7}}});
    List<long[]> told = new ArrayList<>();
    IndexedDatasetMerge.Result r =
        IndexedDatasetMerge.merge(
            List.of(a, b, c),
            tmp.resolve("m"),
            (done, total) -> told.add(new long[] {done, total}));
    assertThat(r.documents()).isEqualTo(3);
    assertThat(r.tokens()).isEqualTo(8);
    // after each input: the tokens copied of all there are
    assertThat(told).extracting(t -> t[0] + "/" + t[1]).containsExactly("4/8", "4/8", "8/8");
    try (IndexedDataset m = IndexedDataset.open(tmp.resolve("m"))) {
      assertThat(m.dtype()).isEqualTo(TokenDtype.INT32);
      assertThat(m.sequenceCount()).isEqualTo(6);
      List<Long> documentStarts = new ArrayList<>();
      for (long d = 0; d <= m.documentCount(); d++) {
        documentStarts.add(m.documentIndex(d));
      }
      assertThat(documentStarts).containsExactly(0L, 2L, 3L, 6L);
      assertThat(m.sequence(0)).containsExactly(1, 2);
      assertThat(m.sequence(2)).containsExactly(70000);
      assertThat(m.sequence(4)).isEmpty();
      assertThat(m.sequence(5)).containsExactly(5, 6, 7);
    }
  }

  @Test
  void mismatchedOrMissingInputsWriteNothing() throws IOException {
    Path a = dataset("a", TokenDtype.UINT16, new int[][][] {{{1}}});
    Path wide = dataset("wide", TokenDtype.INT32, new int[][][] {{{1}}});
    Path out = tmp.resolve("out");
    assertThatThrownBy(() -> IndexedDatasetMerge.merge(List.of(a, wide), out, null))
        .isInstanceOf(IndexedDatasetException.class)
        .hasMessageContaining(wide + ".idx: dtype INT32, but " + a + ".idx has UINT16");
    assertThatThrownBy(() -> IndexedDatasetMerge.merge(List.of(a, tmp.resolve("no")), out, null))
        .hasMessageContaining(tmp.resolve("no").toString());
    assertThatThrownBy(() -> IndexedDatasetMerge.merge(List.of(a), a, null))
        .hasMessageContaining("cannot also be one of its inputs");
    assertThatThrownBy(() -> IndexedDatasetMerge.merge(List.of(), out, null))
        .isInstanceOf(IllegalArgumentException.class);
    try (var files = Files.list(tmp)) {
      assertThat(files.map(f -> f.getFileName().toString()))
          .containsExactlyInAnyOrder("a.bin", "a.idx", "wide.bin", "wide.idx");
    }
  }

  @Test
  void awaitingInputsReturnsOnceEachIdxIsThereAndNamesTheMissingOnesWhenPatienceEnds()
      throws Exception {
    Path a = dataset("a", TokenDtype.UINT16, new int[][][] {{{1}}});
    Path b = tmp.resolve("b"); // a part still being prepared elsewhere
    List<String> heard = new ArrayList<>();
    Thread writer =
        Thread.ofVirtual()
            .start(() -> {
              try {
                Thread.sleep(300);
                // a writer renames its .bin into place first: not there yet
                Files.writeString(IndexedDatasetFormat.binPath(b), "");
                Thread.sleep(300);
                dataset("b", TokenDtype.UINT16, new int[][][] {{{2}}});
              } catch (Exception e) {
                throw new RuntimeException(e);
              }
            });
    IndexedDatasetMerge.awaitInputs(
        List.of(a, b),
        java.time.Duration.ofMinutes(5), // a liveness bound, far above the writer's 0.6 s
        java.time.Duration.ofMillis(20),
        (missing, of) -> heard.add(missing.size() + "/" + of));
    writer.join();
    assertThat(heard).containsExactly("1/2", "0/2");
    assertThat(IndexedDatasetMerge.merge(List.of(a, b), tmp.resolve("m"), null).tokens())
        .isEqualTo(2);

    Path never = tmp.resolve("never");
    assertThatThrownBy(() ->
            IndexedDatasetMerge.awaitInputs(
                List.of(a, never), java.time.Duration.ZERO, java.time.Duration.ofMillis(1), null))
        .isInstanceOf(IndexedDatasetException.class)
        .hasMessage("1 of 2 dataset(s) still missing after 0 s: " + never);
    // a part that will never come ends the wait at once, with the reason given
    assertThatThrownBy(() ->
            IndexedDatasetMerge.awaitInputs(
                List.of(a, never),
                java.time.Duration.ofMinutes(5),
                java.time.Duration.ofMillis(1),
                null,
                () -> "part-1 failed 4 time(s)"))
        .isInstanceOf(IndexedDatasetException.class)
        .hasMessage("part-1 failed 4 time(s)");
  }

  @Test
  void aPartWhoseFailureLogHasEveryAttemptIsNamedWithItsLastFailure() throws IOException {
    Path failed = tmp.resolve("failed");
    assertThat(IndexedDatasetMerge.failedPart(failed, 1)).isNull(); // no failure yet
    Files.createDirectories(failed);
    Files.writeString(failed.resolve("part-0"), "exit 1 at t0 on a\n");
    Files.writeString(failed.resolve("part-1"), "exit 137 at t1 on b\nexit 1 at t2 on c\n\n");
    assertThat(IndexedDatasetMerge.failedPart(failed, 3)).isNull();
    assertThat(IndexedDatasetMerge.failedPart(failed, 2))
        .isEqualTo(
            "part-1 failed 2 time(s), the last: exit 1 at t2 on c; its job has given up on it,"
                + " so the merge does too");
    assertThat(IndexedDatasetMerge.failedPart(null, 1)).isNull();
  }
}
