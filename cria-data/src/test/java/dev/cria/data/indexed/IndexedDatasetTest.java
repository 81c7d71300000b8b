package dev.cria.data.indexed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.data.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IndexedDatasetTest {
  @TempDir Path tmp;

  @Test
  void readsMegatronVectorAndRewritesItByteIdentically() throws IOException {
    Path vector = SharedData.require("data/vectors/tiny_text_document.idx");
    Path prefix = vector.resolveSibling("tiny_text_document");
    Path copy = tmp.resolve("copy_text_document");
    try (IndexedDataset ds = IndexedDataset.open(prefix)) {
      assertThat(ds.dtype()).isEqualTo(TokenDtype.UINT16);
      assertThat(ds.sequenceCount()).isEqualTo(20);
      assertThat(ds.documentCount()).isEqualTo(20);
      long tokens = 0;
      for (long i = 0; i < ds.sequenceCount(); i++) {
        assertThat(ds.pointer(i)).isEqualTo(tokens * 2);
        tokens += ds.size(i);
      }
      assertThat(ds.tokenCount()).isEqualTo(tokens);
      try (IndexedDatasetWriter w = IndexedDatasetWriter.create(copy, ds.dtype())) {
        for (long d = 0; d < ds.documentCount(); d++) {
          for (long s = ds.documentIndex(d); s < ds.documentIndex(d + 1); s++) {
            int[] ids = ds.sequence(s);
            w.addSequence(ids, 0, ids.length);
          }
          w.endDocument();
        }
        w.commit();
      }
    }
    assertThat(Files.readAllBytes(tmp.resolve("copy_text_document.bin")))
        .isEqualTo(Files.readAllBytes(vector.resolveSibling("tiny_text_document.bin")));
    assertThat(Files.readAllBytes(tmp.resolve("copy_text_document.idx")))
        .isEqualTo(Files.readAllBytes(vector));
  }

  @Test
  void roundTripsEveryIntegerDtypeWithSplitDocuments() throws IOException {
    Random random = new Random(7);
    for (TokenDtype dtype :
        new TokenDtype[] {
          TokenDtype.UINT8, TokenDtype.UINT16, TokenDtype.INT32, TokenDtype.INT64
        }) {
      Path prefix = tmp.resolve("rt_" + dtype);
      int max = dtype == TokenDtype.UINT8 ? 256 : dtype == TokenDtype.UINT16 ? 65536 : 1 << 30;
      int[][] seqs = new int[50][];
      try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, dtype)) {
        for (int s = 0; s < seqs.length; s++) {
          seqs[s] = random.ints(random.nextInt(40), 0, max).toArray();
          w.addSequence(seqs[s], 0, seqs[s].length);
          if (s % 3 == 2) {
            w.endDocument();
          }
        }
        w.endDocument();
        w.commit();
      }
      try (IndexedDataset ds = IndexedDataset.open(prefix)) {
        assertThat(ds.dtype()).isEqualTo(dtype);
        assertThat(ds.sequenceCount()).isEqualTo(50);
        assertThat(ds.documentCount()).isEqualTo(17);
        assertThat(ds.documentIndex(1)).isEqualTo(3);
        for (int s = 0; s < seqs.length; s++) {
          assertThat(ds.sequence(s)).containsExactly(seqs[s]);
        }
      }
    }
  }

  @Test
  void uncommittedWriterLeavesNothingAndKeepsTheOldDataset() throws IOException {
    Path prefix = tmp.resolve("keep");
    try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, TokenDtype.UINT16)) {
      w.addSequence(new int[] {1, 2, 3}, 0, 3);
      w.endDocument();
      w.commit();
    }
    byte[] bin = Files.readAllBytes(tmp.resolve("keep.bin"));
    byte[] idx = Files.readAllBytes(tmp.resolve("keep.idx"));
    try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, TokenDtype.UINT16)) {
      w.addSequence(new int[] {9, 9}, 0, 2);
      w.endDocument();
      // no commit: a failure happened
    }
    assertThat(Files.readAllBytes(tmp.resolve("keep.bin"))).isEqualTo(bin);
    assertThat(Files.readAllBytes(tmp.resolve("keep.idx"))).isEqualTo(idx);
    try (var files = Files.list(tmp)) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("keep.bin", "keep.idx");
    }
  }

  @Test
  void refusesIdsThatDoNotFitTheDtype() throws IOException {
    try (IndexedDatasetWriter w =
        IndexedDatasetWriter.create(tmp.resolve("small"), TokenDtype.UINT16)) {
      assertThatThrownBy(() -> w.addSequence(new int[] {70000}, 0, 1))
          .hasMessageContaining("70000");
    }
  }

  @Test
  void namesTheFileWhenThePairIsInconsistentOrMissing() throws IOException {
    Path prefix = tmp.resolve("bad");
    try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, TokenDtype.UINT16)) {
      w.addSequence(new int[] {1, 2, 3}, 0, 3);
      w.endDocument();
      w.commit();
    }
    Files.write(tmp.resolve("bad.bin"), new byte[4]);
    assertThatThrownBy(() -> IndexedDataset.open(prefix))
        .isInstanceOf(IndexedDatasetException.class)
        .hasMessageContaining("bad.bin");
    Files.write(tmp.resolve("bad.idx"), "not an index at all, really".getBytes());
    assertThatThrownBy(() -> IndexedDataset.open(prefix)).hasMessageContaining("bad magic");
    assertThatThrownBy(() -> IndexedDataset.open(tmp.resolve("absent")))
        .hasMessageContaining("absent.idx: no such file");
  }

  @Test
  void megatronDtypeRule() {
    assertThat(TokenDtype.forVocabulary(32000)).isEqualTo(TokenDtype.UINT16);
    assertThat(TokenDtype.forVocabulary(65499)).isEqualTo(TokenDtype.UINT16);
    assertThat(TokenDtype.forVocabulary(65500)).isEqualTo(TokenDtype.INT32);
    assertThat(TokenDtype.forVocabulary(128256)).isEqualTo(TokenDtype.INT32);
  }
}
