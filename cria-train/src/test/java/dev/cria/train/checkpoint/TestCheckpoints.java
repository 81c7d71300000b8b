package dev.cria.train.checkpoint;

import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.backend.Backend;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.config.ModelShape;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import tools.jackson.databind.node.ObjectNode;

/**
 * Runs and checkpoints for the checkpoint tests, made in milliseconds: a tiny tokenizer (vocabulary
 * of 327), a config for a model of width 16 over it, and whole checkpoints of known parameters
 * saved with {@link Checkpointer}.
 */
final class TestCheckpoints {
  private TestCheckpoints() {}

  /**
   * A Llama-layout tokenizer.json in {@code dir}: {@code <unk>}, {@code <s>}, {@code </s>}, 256
   * byte pieces, a few merges, letters; returns the file.
   */
  static Path tokenizer(Path dir) throws IOException {
    List<String> pieces = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
    for (int b = 0; b < 256; b++) {
      pieces.add(String.format("<0x%02X>", b));
    }
    String[] merged = {"th", "the", "▁t", "▁the", "he", "in", "▁a", "an"};
    pieces.addAll(List.of(merged));
    pieces.add("▁");
    for (char c = 'a'; c <= 'z'; c++) {
      pieces.add(String.valueOf(c));
    }
    List<String> merges = new ArrayList<>();
    for (String m : merged) {
      for (int cut = 1; cut < m.length(); cut++) {
        if (pieces.contains(m.substring(0, cut)) && pieces.contains(m.substring(cut))) {
          merges.add("[\"" + m.substring(0, cut) + "\",\"" + m.substring(cut) + "\"]");
        }
      }
    }
    StringBuilder json = new StringBuilder();
    json.append("{\"version\":\"1.0\",\"added_tokens\":[")
        .append("{\"id\":0,\"content\":\"<unk>\",\"special\":true},")
        .append("{\"id\":1,\"content\":\"<s>\",\"special\":true},")
        .append("{\"id\":2,\"content\":\"</s>\",\"special\":true}],")
        .append("\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[")
        .append("{\"type\":\"Prepend\",\"prepend\":\"▁\"},")
        .append("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"▁\"}]},")
        .append("\"pre_tokenizer\":null,")
        .append("\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":true,")
        .append("\"vocab\":{");
    for (int i = 0; i < pieces.size(); i++) {
      json.append(i == 0 ? "" : ",").append('"').append(pieces.get(i)).append("\":").append(i);
    }
    json.append("},\"merges\":[").append(String.join(",", merges)).append("]}}");
    Files.createDirectories(dir);
    Path file = dir.resolve("tokenizer.json");
    Files.writeString(file, json);
    return file;
  }

  /** The tree of a run in {@code runDir} of a model of width 16, 2 layers, {@code tokenizer}. */
  static ObjectNode tree(Path runDir, Path tokenizer) {
    ObjectNode t = TrainConfigFile.defaults();
    TrainConfigFile.set(t, "run_dir", runDir.toString());
    if (tokenizer != null) {
      TrainConfigFile.set(t, "model.tokenizer", tokenizer.toString());
    }
    TrainConfigFile.set(t, "model.hidden_size", 16);
    TrainConfigFile.set(t, "model.num_layers", 2);
    TrainConfigFile.set(t, "model.num_attention_heads", 2);
    TrainConfigFile.set(t, "model.max_position_embeddings", 8);
    TrainConfigFile.set(t, "data.data_prefix", List.of(runDir.resolve("data").toString()));
    TrainConfigFile.set(t, "data.seq_length", 8);
    TrainConfigFile.set(t, "trainer.max_steps", 20L);
    TrainConfigFile.set(t, "optim.warmup_steps", 2L);
    return t;
  }

  static TrainConfig config(ObjectNode tree) {
    return TrainConfigFile.bind(tree, "test");
  }

  /** The model shape {@code config} describes (its tokenizer's vocabulary). */
  static LlamaConfig shape(TrainConfig config) {
    Tokenizer tok =
        config.model().tokenizer() == null
            ? null
            : Tokenizers.load(Path.of(config.model().tokenizer()));
    return ModelShape.of(config.model(), tok);
  }

  /** Parameter {@code i} of the checkpoints saved here: distinct, exactly representable. */
  static float value(long i, long step) {
    return (float) Math.sin(i + step) / 4;
  }

  /**
   * Saves a whole checkpoint of {@code step} of {@code config}'s run on one rank, parameters {@link
   * #value}, the optimizer's first moment {@code i / 1000}; returns its directory.
   */
  static Path save(TrainConfig config, long step, Backend cpu) throws IOException {
    Path runDir = Path.of(config.runDir());
    ParameterLayout layout = new ParameterLayout(shape(config));
    try (Arena arena = Arena.ofConfined();
        AdamW adam = new AdamW(layout, AdamW.Settings.llama(), cpu);
        Checkpointer c = new Checkpointer(runDir, Collective.single(), 10)) {
      Floats p = Floats.allocate(arena, layout.size());
      for (long i = 0; i < layout.size(); i++) {
        p.set(i, value(i, step));
        adam.firstMoment().set(i, i / 1000f);
        adam.secondMoment().set(i, i / 2000f);
      }
      adam.restoreSteps(step);
      c.save(
          new Checkpointer.Contents(
              new TrainingState(step, 4 * step, step, 1, 1234, 1e-3, "test", 2.5),
              TrainConfigFile.toYaml(config),
              config.model().tokenizer() == null ? null : Path.of(config.model().tokenizer()),
              layout,
              p),
          List.of(adam));
    }
    return Checkpoints.stepDirectory(runDir, step);
  }

  /** Lines told to a consumer. */
  static final class Lines implements Consumer<String> {
    final List<String> lines = new ArrayList<>();

    @Override
    public synchronized void accept(String line) {
      lines.add(line);
    }
  }
}
