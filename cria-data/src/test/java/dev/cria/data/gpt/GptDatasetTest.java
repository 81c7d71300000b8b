package dev.cria.data.gpt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.data.SharedData;
import dev.cria.data.indexed.IndexedDataset;
import dev.cria.data.indexed.IndexedDatasetWriter;
import dev.cria.data.indexed.TokenDtype;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Megatron-Core's sample order, checked against the vectors in ../shared made by Megatron itself.
 */
class GptDatasetTest {
  private static final int SEQ = 4;
  private static final long SEED = 1234;

  @TempDir Path cache;

  private static JsonNode vectors() {
    return JsonMapper.builder()
        .build()
        .readTree(SharedData.require("data/vectors/gpt_index_vectors.json").toFile());
  }

  @TempDir Path data;

  /**
   * A dataset of this test's own for the cache's tests, which need nothing of Megatron's: 20
   * documents of 2 to 21 tokens (so 40 samples of 4 tokens take two epochs of the train split).
   */
  private IndexedDataset own() throws IOException {
    Path prefix = data.resolve("own_text_document");
    try (IndexedDatasetWriter w = IndexedDatasetWriter.create(prefix, TokenDtype.UINT16)) {
      for (int d = 0; d < 20; d++) {
        int[] ids = new int[2 + d];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = 3 + (i * 7 + d) % 97;
        }
        w.addSequence(ids, 0, ids.length);
        w.endDocument();
      }
      w.commit();
    }
    return IndexedDataset.open(prefix);
  }

  private static IndexedDataset tiny() throws IOException {
    Path idx = SharedData.require("data/vectors/tiny_text_document.idx");
    return IndexedDataset.open(Path.of(idx.toString().replaceAll("\\.idx$", "")));
  }

  @Test
  void splitMatchesMegatron() throws IOException {
    JsonNode v = vectors();
    SplitRanges ranges = SplitRanges.of("8,1,1", v.get("sizes").size());
    for (Split s : Split.values()) {
      JsonNode expected = v.get("split").get(s.ordinal());
      assertThat(ranges.begin(s)).as(s.label()).isEqualTo(expected.get(0).longValue());
      assertThat(ranges.end(s)).as(s.label()).isEqualTo(expected.get(1).longValue());
    }
  }

  @Test
  void splitRoundsHalfToEvenAndDropsEmptyParts() {
    SplitRanges r = SplitRanges.of("1,1", 5); // 2.5 rounds to 2
    assertThat(r.end(Split.TRAIN)).isEqualTo(2);
    assertThat(r.begin(Split.VALID)).isEqualTo(2);
    assertThat(r.end(Split.VALID)).isEqualTo(5);
    assertThat(r.present(Split.TEST)).isFalse();
    SplitRanges brown = SplitRanges.of("980,10,10", 500);
    assertThat(brown.begin()).containsExactly(0, 490, 495);
    assertThat(brown.end()).containsExactly(490, 495, 500);
    SplitRanges odd = SplitRanges.of("0.5 0.25 0.25", 7); // 3.5 -> 4, 5.25 -> 5
    assertThat(odd.end()).containsExactly(4, 5, 7);
    assertThatThrownBy(() -> SplitRanges.of("0,0,0", 5)).hasMessageContaining("positive sum");
    assertThatThrownBy(() -> SplitRanges.of("1,2,3,4", 5)).hasMessageContaining("one to three");
    assertThatThrownBy(() -> SplitRanges.of("abc", 5)).hasMessageContaining("one to three");
  }

  @Test
  void indicesAndSamplesMatchMegatronForEveryCase() throws IOException {
    JsonNode v = vectors();
    try (IndexedDataset data = tiny()) {
      SplitRanges ranges = SplitRanges.of("8,1,1", data.sequenceCount());
      for (String name : List.of("train_a", "train_b", "train_c", "valid", "test")) {
        JsonNode c = v.get(name);
        Split split = name.startsWith("train") ? Split.TRAIN : Split.valueOf(name.toUpperCase());
        long samples =
            c.get("num_samples_requested").isNull()
                ? -1
                : c.get("num_samples_requested").longValue();
        GptDataset ds =
            GptDataset.open(data, ranges, split, samples, SEQ, SEED, new GptIndexCache(cache));
        GptIndices ix = ds.indices();
        assertThat(ix.epochs()).as(name).isEqualTo(c.get("num_epochs").intValue());
        assertThat(ix.separateFinalEpoch())
            .as(name)
            .isEqualTo(c.get("separate_final_epoch").booleanValue());
        assertThat(ix.tokensPerEpoch()).as(name).isEqualTo(c.get("tokens_per_epoch").longValue());
        assertThat(ix.documentIndex()).as(name).containsExactly(ints(c.get("document_index")));
        assertThat(ix.sampleIndex()).as(name).containsExactly(longs(c.get("sample_index")));
        assertThat(ix.shuffleIndex()).as(name).containsExactly(longs(c.get("shuffle_index")));
        JsonNode expected = c.get("samples_in_order");
        assertThat(ds.size()).isEqualTo(expected.size());
        int[] out = new int[SEQ + 1];
        for (int i = 0; i < expected.size(); i++) {
          ds.sample(i, out, 0);
          assertThat(out).as(name + " sample " + i).containsExactly(ints(expected.get(i)));
        }
      }
    }
  }

  @Test
  void cacheIsReusedWhenInputsMatchAndReadableAsNumpy() throws IOException {
    try (IndexedDataset dataset = own()) {
      SplitRanges ranges = SplitRanges.of("8,1,1", dataset.sequenceCount());
      GptDataset first =
          GptDataset.open(dataset, ranges, Split.TRAIN, 40, SEQ, SEED, new GptIndexCache(cache));
      assertThat(first.fromCache()).isFalse();
      List<Path> files;
      try (Stream<Path> s = Files.list(cache)) {
        files = s.sorted().toList();
      }
      assertThat(files).hasSize(4);
      assertThat(files.getFirst().getFileName().toString())
          .matches("[0-9a-f]{32}-GPTDataset-train-description.txt");
      GptDataset again =
          GptDataset.open(dataset, ranges, Split.TRAIN, 40, SEQ, SEED, new GptIndexCache(cache));
      assertThat(again.fromCache()).isTrue();
      assertThat(again.indices().shuffleIndex()).containsExactly(first.indices().shuffleIndex());
      assertThat(again.indices().epochs()).isEqualTo(first.indices().epochs()).isEqualTo(2);
      // Another seed is another entry.
      GptDataset other =
          GptDataset.open(
              dataset, ranges, Split.TRAIN, 40, SEQ, SEED + 1, new GptIndexCache(cache));
      assertThat(other.fromCache()).isFalse();
      // numpy's header: dtype and shape.
      Path sampleIndex =
          files.stream()
              .filter(f -> f.toString().endsWith("sample_index.npy"))
              .findFirst()
              .orElseThrow();
      String header =
          new String(
              Files.readAllBytes(sampleIndex),
              0,
              128,
              java.nio.charset.StandardCharsets.ISO_8859_1);
      long rows = first.indices().sampleIndex().length / 2;
      assertThat(header)
          .contains("{'descr': '<i4', 'fortran_order': False, 'shape': (" + rows + ", 2), }");
      assertThat(Files.size(sampleIndex)).isEqualTo(128 + rows * 2 * 4);
    }
  }

  @Test
  void damagedCacheEntryIsRebuilt() throws IOException {
    try (IndexedDataset dataset = own()) {
      SplitRanges ranges = SplitRanges.of("8,1,1", dataset.sequenceCount());
      GptDataset first =
          GptDataset.open(dataset, ranges, Split.TRAIN, 40, SEQ, SEED, new GptIndexCache(cache));
      Path shuffle;
      try (Stream<Path> s = Files.list(cache)) {
        shuffle =
            s.filter(f -> f.toString().endsWith("shuffle_index.npy")).findFirst().orElseThrow();
      }
      byte[] bytes = Files.readAllBytes(shuffle);
      Files.write(shuffle, java.util.Arrays.copyOf(bytes, bytes.length - 3));
      GptDataset again =
          GptDataset.open(dataset, ranges, Split.TRAIN, 40, SEQ, SEED, new GptIndexCache(cache));
      assertThat(again.fromCache()).isFalse();
      assertThat(again.indices().shuffleIndex()).containsExactly(first.indices().shuffleIndex());
      assertThat(Files.readAllBytes(shuffle)).isEqualTo(bytes);
    }
  }

  @Test
  void processesStartingAtOnceAllGetCompleteIdenticalIndices() throws Exception {
    try (IndexedDataset dataset = own()) {
      SplitRanges ranges = SplitRanges.of("8,1,1", dataset.sequenceCount());
      ExecutorService pool = Executors.newFixedThreadPool(6);
      try {
        List<Future<GptDataset>> results = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
          results.add(
              pool.submit(() ->
                  GptDataset.open(
                      dataset, ranges, Split.TRAIN, 51, SEQ, SEED, new GptIndexCache(cache))));
        }
        long[] expected = results.getFirst().get().indices().shuffleIndex();
        for (Future<GptDataset> f : results) {
          assertThat(f.get().indices().shuffleIndex()).containsExactly(expected);
        }
      } finally {
        pool.shutdown();
      }
      try (Stream<Path> s = Files.list(cache)) {
        assertThat(s.map(p -> p.getFileName().toString()))
            .allMatch(n -> !n.startsWith("."))
            .hasSize(4);
      }
    }
  }

  @Test
  void emptySplitIsAClearError() throws IOException {
    try (IndexedDataset dataset = own()) {
      SplitRanges ranges = SplitRanges.of("100,0,0", dataset.sequenceCount());
      assertThatThrownBy(() ->
              GptDataset.open(
                  dataset, ranges, Split.VALID, -1, SEQ, SEED, new GptIndexCache(cache)))
          .hasMessageContaining("leaves no valid documents");
    }
  }

  private static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).intValue();
    }
    return out;
  }

  private static long[] longs(JsonNode array) {
    List<Long> out = new ArrayList<>();
    for (JsonNode n : array) {
      if (n.isArray()) {
        for (JsonNode m : n) {
          out.add(m.longValue());
        }
      } else {
        out.add(n.longValue());
      }
    }
    return out.stream().mapToLong(Long::longValue).toArray();
  }
}
