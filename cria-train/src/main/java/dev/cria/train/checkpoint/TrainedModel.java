package dev.cria.train.checkpoint;

import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.io.HfConfig;
import dev.cria.engine.io.HfModelFiles;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.config.ConfigException;
import dev.cria.train.config.ModelShape;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A trained model loaded for use (export, eval, generate): from a run directory (its newest valid
 * checkpoint), a {@code step-N} checkpoint, or a Hugging Face directory ({@code config.json} and
 * safetensors). The parameters live off-heap until {@link #close()}.
 */
public final class TrainedModel implements AutoCloseable {
  private final Path source;
  private final Checkpoint checkpoint;
  private final TrainConfig config;
  private final LlamaConfig shape;
  private final Tokenizer tokenizer;
  private final Path tokenizerPath;
  private final Arena arena;
  private final Floats parameters;

  private TrainedModel(
      Path source,
      Checkpoint checkpoint,
      TrainConfig config,
      LlamaConfig shape,
      Tokenizer tokenizer,
      Path tokenizerPath) {
    this.source = source;
    this.checkpoint = checkpoint;
    this.config = config;
    this.shape = shape;
    this.tokenizer = tokenizer;
    this.tokenizerPath = tokenizerPath;
    this.arena = Arena.ofShared();
    this.parameters = Floats.allocate(arena, new ParameterLayout(shape).size());
  }

  /** Loads {@code path}; {@code report} hears about damaged checkpoints passed over. */
  public static TrainedModel load(Path path, Consumer<String> report) throws IOException {
    if (Files.isRegularFile(path.resolve("config.json"))) {
      LlamaConfig shape = HfConfig.read(path.resolve("config.json"));
      boolean hasTokenizer =
          Files.isRegularFile(path.resolve("tokenizer.model"))
              || Files.isRegularFile(path.resolve("tokenizer.json"));
      TrainedModel m =
          new TrainedModel(
              path,
              null,
              null,
              shape,
              hasTokenizer ? Tokenizers.load(path) : null,
              hasTokenizer ? path : null);
      try {
        HfModelFiles.read(
            path,
            new ParameterLayout(shape),
            m.parameters,
            HfConfig.tiedEmbeddings(path.resolve("config.json")));
      } catch (IOException | RuntimeException e) {
        m.close();
        throw e;
      }
      return m;
    }
    Checkpoint c = Checkpoints.resolve(path, report);
    TrainConfig config;
    try {
      config = TrainConfigFile.readSaved(c.dir().resolve(Checkpoint.CONFIG));
    } catch (ConfigException e) {
      throw new CheckpointException(e.getMessage(), e);
    }
    Path tokenizerPath =
        c.tokenizer() == null ? null : c.dir(); // with the tokenizer's other files, if any
    Tokenizer tokenizer = tokenizerPath == null ? null : Tokenizers.load(tokenizerPath);
    LlamaConfig shape = ModelShape.of(config.model(), tokenizer);
    TrainedModel m = new TrainedModel(c.dir(), c, config, shape, tokenizer, tokenizerPath);
    try {
      c.loadModel(new ParameterLayout(shape), m.parameters);
    } catch (IOException | RuntimeException e) {
      m.close();
      throw e;
    }
    return m;
  }

  /** The checkpoint or Hugging Face directory the weights came from. */
  public Path source() {
    return source;
  }

  /** The checkpoint, or null for a Hugging Face directory. */
  public Checkpoint checkpoint() {
    return checkpoint;
  }

  /** The run's config, or null for a Hugging Face directory. */
  public TrainConfig config() {
    return config;
  }

  public LlamaConfig shape() {
    return shape;
  }

  public ParameterLayout layout() {
    return new ParameterLayout(shape);
  }

  /** The tokenizer, or null when the run named none. */
  public Tokenizer tokenizer() {
    return tokenizer;
  }

  /** The directory holding the tokenizer's files, or null. */
  public Path tokenizerPath() {
    return tokenizerPath;
  }

  public Floats parameters() {
    return parameters;
  }

  @Override
  public void close() {
    arena.close();
  }
}
