package dev.cria.train;

import dev.cria.data.indexed.IndexedDatasetWriter;
import dev.cria.data.indexed.TokenDtype;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.LoopbackRanks;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import tools.jackson.databind.node.ObjectNode;

/** Small datasets and configs for trainer tests: a model that trains in milliseconds per step. */
final class TestRuns {
  private TestRuns() {}

  /**
   * Writes {@code documents} documents of 20-60 tokens: a few repeated phrases over ids below 200,
   * each ending with id 2, so a model can learn them quickly.
   */
  static Path dataset(Path dir, int documents, int maxId) throws IOException {
    Path prefix = dir.resolve("synthetic_text_document");
    SplittableRandom random = new SplittableRandom(7);
    int[][] phrases = new int[8][];
    for (int p = 0; p < phrases.length; p++) {
      phrases[p] = random.ints(6, 3, 200).toArray();
    }
    try (IndexedDatasetWriter w =
        IndexedDatasetWriter.create(prefix, maxId < 65500 ? TokenDtype.UINT16 : TokenDtype.INT32)) {
      for (int d = 0; d < documents; d++) {
        List<Integer> doc = new ArrayList<>();
        int length = 20 + random.nextInt(40);
        while (doc.size() < length) {
          for (int t : phrases[random.nextInt(phrases.length)]) {
            doc.add(t);
          }
        }
        doc.add(d == documents - 1 ? maxId : 2);
        int[] ids = doc.stream().mapToInt(Integer::intValue).toArray();
        w.addSequence(ids, 0, ids.length);
        w.endDocument();
      }
      w.commit();
    }
    return prefix;
  }

  /** A tree for a tiny model (d=32, 2 layers) on {@code prefix}, writing to {@code runDir}. */
  static ObjectNode tree(Path prefix, Path runDir) {
    ObjectNode t = TrainConfigFile.defaults();
    TrainConfigFile.set(t, "run_dir", runDir.toString());
    TrainConfigFile.set(t, "model.hidden_size", 32);
    TrainConfigFile.set(t, "model.num_layers", 2);
    TrainConfigFile.set(t, "model.num_attention_heads", 2);
    TrainConfigFile.set(t, "model.max_position_embeddings", 32);
    TrainConfigFile.set(t, "data.data_prefix", List.of(prefix.toString()));
    TrainConfigFile.set(t, "data.split", "90,10,0");
    TrainConfigFile.set(t, "data.seq_length", 16);
    TrainConfigFile.set(t, "trainer.micro_batch_size", 2);
    TrainConfigFile.set(t, "trainer.global_batch_size", 4);
    TrainConfigFile.set(t, "trainer.max_steps", 30L);
    TrainConfigFile.set(t, "trainer.val_check_interval", 10L);
    TrainConfigFile.set(t, "trainer.limit_val_batches", 2);
    TrainConfigFile.set(t, "trainer.threads", 2);
    TrainConfigFile.set(t, "optim.lr", 1e-2);
    TrainConfigFile.set(t, "optim.min_lr", 1e-3);
    TrainConfigFile.set(t, "optim.warmup_steps", 3L);
    return t;
  }

  static TrainConfig config(ObjectNode tree) {
    return TrainConfigFile.bind(tree, "test");
  }

  /**
   * Runs {@code body} on {@code world} ranks, threads of this JVM joined over loopback; results by
   * rank.
   */
  static <T> List<T> inRanks(int world, LoopbackRanks.Body<T> body) throws Exception {
    return LoopbackRanks.run(world, Duration.ofSeconds(60), body);
  }
}
