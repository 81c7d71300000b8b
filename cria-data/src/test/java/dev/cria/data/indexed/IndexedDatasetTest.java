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

  /** Three documents: {5, 9, 2}, then {7} and {1, 250} (one document of two sequences). */
  private Path three(TokenDtype dtype) throws IOException {
    Path prefix = tmp.resolve("three-" + dtype);
    try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, dtype)) {
      w.addSequence(new int[] {0, 5, 9, 2, 0}, 1, 3); // from the middle of an array
      w.endDocument();
      w.addSequence(new int[] {7}, 0, 1);
      w.addSequence(new int[] {1, 250}, 0, 2);
      w.endDocument();
      assertThat(w.sequenceCount()).isEqualTo(3);
      assertThat(w.tokenCount()).isEqualTo(6);
      assertThat(w.documentCount()).isEqualTo(2);
      w.commit();
    }
    return prefix;
  }

  @Test
  void theLargestTokenOfARangeOfSequences() throws IOException {
    try (IndexedDataset d = IndexedDataset.open(three(TokenDtype.UINT8))) {
      assertThat(d.prefix()).isEqualTo(tmp.resolve("three-UINT8"));
      assertThat(d.tokenCount()).isEqualTo(6);
      assertThat(d.maxToken(0, 3)).isEqualTo(250); // the last token of the last sequence
      assertThat(d.maxToken(0, 1)).isEqualTo(9);
      assertThat(d.maxToken(1, 2)).isEqualTo(7);
      assertThat(d.maxToken(1, 1)).isEqualTo(-1); // no sequence, no token
      assertThat(d.documentIndex(0)).isZero();
      assertThat(d.documentIndex(1)).isEqualTo(1);
      assertThat(d.documentIndex(2)).isEqualTo(3);
      assertThat(d.pointer(2)).isEqualTo(4);
    }
  }

  @Test
  void readingASequenceFromAnOffsetToItsEndAndNoFurther() throws IOException {
    try (IndexedDataset d = IndexedDataset.open(three(TokenDtype.UINT16))) {
      int[] out = new int[4];
      d.read(0, 1, 2, out, 1); // tokens 1..2 of {5, 9, 2}, into out[1..2]
      assertThat(out).containsExactly(0, 9, 2, 0);
      d.read(2, 1, 1, out, 0);
      assertThat(out[0]).isEqualTo(250);
      d.read(0, 3, 0, out, 0); // nothing, at the very end
      assertThatThrownBy(() -> d.read(0, 1, 3, out, 0))
          .isInstanceOf(IndexOutOfBoundsException.class)
          .hasMessage("tokens [1, 4) of a sequence of 3");
      assertThatThrownBy(() -> d.read(0, -1, 1, out, 0))
          .isInstanceOf(IndexOutOfBoundsException.class);
      assertThatThrownBy(() -> d.read(0, 0, -1, out, 0))
          .isInstanceOf(IndexOutOfBoundsException.class);
    }
  }

  @Test
  void theLargestIdOfADtypeFitsAndOneMoreDoesNot() throws IOException {
    try (IndexedDatasetWriter w =
        IndexedDatasetWriter.create(tmp.resolve("u8"), TokenDtype.UINT8)) {
      w.addSequence(new int[] {255, 0}, 0, 2);
      assertThatThrownBy(() -> w.addSequence(new int[] {256}, 0, 1))
          .hasMessage("token id 256 does not fit dtype UINT8");
      assertThatThrownBy(() -> w.addSequence(new int[] {-1}, 0, 1))
          .hasMessage("token id -1 does not fit dtype UINT8");
      w.endDocument();
      w.commit();
    }
    try (IndexedDataset d = IndexedDataset.open(tmp.resolve("u8"))) {
      assertThat(d.sequence(0)).containsExactly(255, 0);
    }
    try (IndexedDatasetWriter w =
        IndexedDatasetWriter.create(tmp.resolve("u16"), TokenDtype.UINT16)) {
      w.addSequence(new int[] {65535}, 0, 1);
      assertThatThrownBy(() -> w.addSequence(new int[] {65536}, 0, 1))
          .hasMessageContaining("65536");
    }
  }

  @Test
  void manySequencesAndDocumentsOutgrowEveryBufferAndReadBackWhole() throws IOException {
    Path prefix = tmp.resolve("many");
    int documents = 70_000; // more than the writer's first arrays and its index buffer hold
    try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, TokenDtype.INT32)) {
      for (int d = 0; d < documents; d++) {
        w.addSequence(new int[] {d, d + 1}, 0, 2);
        w.endDocument();
      }
      w.commit();
    }
    try (IndexedDataset d = IndexedDataset.open(prefix)) {
      assertThat(d.sequenceCount()).isEqualTo(documents);
      assertThat(d.documentCount()).isEqualTo(documents);
      assertThat(d.tokenCount()).isEqualTo(2L * documents);
      for (int i : new int[] {0, 1, 4095, 4096, 65535, 65536, documents - 1}) {
        assertThat(d.sequence(i)).as("sequence %d", i).containsExactly(i, i + 1);
        assertThat(d.documentIndex(i + 1)).isEqualTo(i + 1);
      }
    }
  }

  @Test
  void onlyTheIntegerDtypesHoldTokenIds() {
    for (TokenDtype t : TokenDtype.values()) {
      assertThat(t.isInteger())
          .as(t.name())
          .isEqualTo(t != TokenDtype.FLOAT64 && t != TokenDtype.DOUBLE);
    }
    assertThat(TokenDtype.FLOAT64.isInteger()).isFalse();
    assertThat(TokenDtype.DOUBLE.isInteger()).isFalse();
  }
}
