package dev.cria.bench;

import dev.cria.data.tokenizer.BpeTrainer;
import dev.cria.data.tokenizer.Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import tools.jackson.databind.json.JsonMapper;

/**
 * Training a byte-level BPE tokenizer ({@link BpeTrainer}) on the bundled Brown corpus, counting
 * its words and merging to the vocabulary size: what {@code cria tokenizer train} spends (the
 * demo's step 1). Run from the repository root, or give {@code -p corpus=PATH}:
 *
 * <pre>
 * java -jar cria-bench/target/benchmarks.jar BpeTraining
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(1)
public class BpeTrainingBenchmark {
  @Param("data/sample/brown.jsonl.gz")
  public String corpus;

  @Param({"4000", "32000"})
  public int vocabSize;

  private List<String> documents;

  @Setup
  public void read() throws IOException {
    JsonMapper json = JsonMapper.builder().build();
    documents = new ArrayList<>();
    try (BufferedReader r =
        new BufferedReader(
            new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(Path.of(corpus))),
                StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        documents.add(json.readTree(line).get("text").stringValue());
      }
    }
  }

  @Benchmark
  public Tokenizer train() {
    BpeTrainer trainer = new BpeTrainer(BpeTrainer.Options.defaults(vocabSize));
    documents.forEach(trainer::addDocument);
    return trainer.train(null);
  }
}
