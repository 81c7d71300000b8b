package dev.cria.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blueprint's NeMo config ({@code ../shared/data/nemo/megatron_llama_config.yaml}) with the
 * Hydra overrides its {@code test_llama.sh} passes, scaled to a small model on the sample corpus:
 * accepted whole, trained to the same losses as cria's flags; and NeMo files with mistakes.
 */
class NemoConfigTest {
  static final Path NEMO = CliRun.shared().resolve("data/nemo");

  @TempDir static Path tmp;
  static SmallCorpus corpus;

  @BeforeAll
  static void prepareData() {
    corpus = SmallCorpus.prepareIn(tmp);
  }

  /** train_setup.sh's variables for one fp32 process, the model scaled to the corpus's. */
  private static Map<String, String> scaledBlueprint(Path runDir) {
    Map<String, String> env = new HashMap<>();
    env.putAll(
        Map.of(
            "PROCESSES_PER_NODE", "32",
            "NTASKS", "1",
            "TRAIN_ITERS", "6",
            "megatron_amp_O2", "false",
            "TOKENIZER_PATH", corpus.tokenizer().toString(),
            "UBS", "2",
            "GBS", "4",
            "TP", "1",
            "PP", "1",
            "SEQ_LENGTH", "32"));
    env.putAll(
        Map.of(
            "HS", "32",
            "FFN_HS", "96",
            "N_LAYERS", "2",
            "N_AH", "2",
            "INIT_METHOD_STD", "0.021",
            "LAYERNORM_EPSILON", "1e-5",
            "DATASET_PATH", corpus.prefix().toString(),
            "OPTIM_NAME", "adamw",
            "WARMUP_STEPS", "2",
            "USE_FLASH_ATTENTION", "False"));
    env.putAll(
        Map.of(
            "wrap_with_zero", "false",
            "zero_use_master_weight", "false",
            "zero_use_fp32_grad_accum", "false",
            "CREATE_TB_LOGGER", "True",
            "CHECKPOINT_CALLBACK", "True",
            "EXPLICIT_LOGDIR", runDir.toString()));
    return env;
  }

  /**
   * The Hydra arguments test_llama.sh gives megatron_gpt_pretraining.py, its shell variables
   * replaced from {@code env}.
   */
  static List<String> blueprintOverrides(Map<String, String> env) throws IOException {
    String script = Files.readString(NEMO.resolve("test_llama.sh"));
    String command = "megatron_gpt_pretraining.py";
    int from = script.indexOf(command) + command.length();
    String body = script.substring(from, script.indexOf("2>&1", from)).replace("\\\n", " ");
    List<String> out = new ArrayList<>();
    Pattern variable = Pattern.compile("\\$\\{?(\\w+)}?");
    for (String word : body.strip().split("\\s+")) {
      if (word.startsWith("--config")) {
        continue; // --config-path, --config-name: the file is given to cria as --config
      }
      Matcher m = variable.matcher(word);
      StringBuilder sb = new StringBuilder();
      while (m.find()) {
        m.appendReplacement(sb, Matcher.quoteReplacement(env.get(m.group(1))));
      }
      m.appendTail(sb);
      out.add(sb.toString());
    }
    return out;
  }

  private static void assumeBlueprint() {
    assumeTrue(
        Files.isRegularFile(NEMO.resolve("megatron_llama_config.yaml"))
            && Files.isRegularFile(NEMO.resolve("test_llama.sh")),
        "skipped: the blueprint's NeMo config and test_llama.sh are not in " + NEMO);
  }

  private static List<String> nemoTrain(Map<String, String> env, String... more)
      throws IOException {
    List<String> args = new ArrayList<>(List.of("train", "--threads", "2"));
    args.addAll(List.of(more));
    args.addAll(List.of("--config", NEMO.resolve("megatron_llama_config.yaml").toString()));
    args.addAll(blueprintOverrides(env));
    return args;
  }

  private static List<String> losses(Path runDir) throws IOException {
    List<String> out = new ArrayList<>();
    Matcher m =
        Pattern.compile("(step \\d+/\\d+ reduced_train_loss \\S+|val_loss \\S+)")
            .matcher(Files.readString(runDir.resolve("0/log")));
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  @Test
  void theBlueprintsConfigAndOverridesTrainAsTheSameRunInCriasFlags() throws IOException {
    assumeBlueprint();
    Path nemoRun = tmp.resolve("nemo-run");
    List<String> nemo = nemoTrain(scaledBlueprint(nemoRun));
    assertThat(nemo.size()).isGreaterThan(50); // the whole list, from the script
    CliRun run = CliRun.of(nemo.toArray(String[]::new));
    assertThat(run.exitCode()).as(run.err()).isZero();
    // the switches that do nothing here are said once, grouped by why
    assertThat(run.out())
        .containsOnlyOnce(
            "no effect in cria, Neuron/XLA switches: trainer.accelerator, model.save_xser,"
                + " model.load_xser")
        .contains("model.activations_checkpoint_method")
        // the launch script's sequence_parallel=True, applied, does nothing at TP 1, as in NeMo
        .contains(
            "distributed.sequence_parallel: no effect without tensor parallelism"
                + " (distributed.tensor_parallel 1)")
        // the launch script's activations_checkpoint_granularity=full is cria's recompute
        .doesNotContain("model.activations_checkpoint_granularity")
        .contains("(each layer's input; the rest recomputed)")
        .contains("done: 6 step(s)");

    Path flagsRun = tmp.resolve("flags-run");
    List<String> flags =
        corpus.args(
            "train",
            flagsRun,
            "--ffn-size",
            "96",
            "--global-batch",
            "4",
            "--max-steps",
            "6",
            "--lr",
            "3e-4",
            "--min-lr",
            "3e-5",
            "--weight-decay",
            "0.1",
            "--split",
            "980,10,10",
            "--val-interval",
            "6",
            "--val-batches",
            "1",
            "--log-interval",
            "1",
            "--keep-last",
            "1",
            "--save-interval-minutes",
            "600",
            "--threads",
            "2",
            "--recompute",
            "model.init_method_std=0.021");
    flags.add(flags.indexOf("--data-prefix") + 1, "1.0"); // the blueprint's blend of one
    CliRun same = CliRun.of(flags.toArray(String[]::new));
    assertThat(same.exitCode()).as(same.err()).isZero();
    assertThat(losses(nemoRun)).hasSize(7).isEqualTo(losses(flagsRun));
  }

  @Test
  void theBlueprintsConfigTrainsInBf16WhenItsPrecisionSaysSo() throws IOException {
    assumeBlueprint();
    Path runDir = tmp.resolve("bf16-run");
    List<String> args = nemoTrain(scaledBlueprint(runDir));
    args.add("trainer.precision=bf16");
    CliRun run = CliRun.of(args.toArray(String[]::new));
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out())
        .contains("precision bf16-mixed: linear layers multiply bf16 on ")
        .contains("done: 6 step(s)");
    assertThat(Files.readString(runDir.resolve("config.yaml"))).contains("precision: bf16-mixed");
  }

  @Test
  void tensorParallelEightOnOneProcessIsRefusedWithTheNumbersBeforeAnythingIsWritten()
      throws IOException {
    assumeBlueprint();
    Path runDir = tmp.resolve("tp8");
    Map<String, String> env = scaledBlueprint(runDir);
    env.put("TP", "8");
    CliRun run = CliRun.of(nemoTrain(env).toArray(String[]::new));
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err())
        .contains(
            "distributed.tensor_parallel: tensor parallelism 8 does not divide the world size 1");
    assertThat(runDir).doesNotExist();
  }

  @Test
  void theBlueprintsTensorParallelismScaledToTwoProcessesTrainsAsOneProcessDoes()
      throws IOException {
    assumeBlueprint();
    Map<String, List<Double>> losses = new java.util.LinkedHashMap<>();
    for (String tp : new String[] {"1", "2"}) {
      Path runDir = tmp.resolve("tp" + tp);
      Map<String, String> env = scaledBlueprint(runDir);
      env.put("TP", tp); // test_llama.sh also sets model.sequence_parallel=True
      List<String> args = nemoTrain(env, "--nproc", tp);
      args.set(args.indexOf("--threads") + 1, "1");
      CliRun run = CliRun.of(args.toArray(String[]::new));
      assertThat(run.exitCode()).as(run.err()).isZero();
      losses.put(tp, trainLosses(runDir));
      if (tp.equals("2")) {
        assertThat(Files.readString(runDir.resolve("1/log")))
            .contains("tensor parallelism 2 (dp 1 x tp 2): this rank holds slice 1 of every layer")
            .contains("sequence parallelism: it holds 1/2 of the tokens' rows");
      }
    }
    assertThat(losses.get("2")).hasSize(6);
    for (int s = 0; s < 6; s++) {
      assertThat(losses.get("2").get(s))
          .as("step %d", s + 1)
          .isCloseTo(losses.get("1").get(s), org.assertj.core.data.Offset.offset(2e-4));
    }
  }

  private static List<Double> trainLosses(Path runDir) throws IOException {
    return losses(runDir).stream()
        .filter(line -> line.startsWith("step "))
        .map(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
        .toList();
  }

  @Test
  void printConfigShowsTheResolvedRunInNemosLayoutAndReadsBack() throws IOException {
    assumeBlueprint();
    Path runDir = tmp.resolve("printed");
    CliRun printed =
        CliRun.of(nemoTrain(scaledBlueprint(runDir), "--print-config").toArray(String[]::new));
    assertThat(printed.exitCode()).as(printed.err()).isZero();
    assertThat(printed.out())
        .contains(
            "# no effect in cria, Neuron/XLA switches",
            "  hidden_size: 32\n",
            "  encoder_seq_length: 32\n",
            "    warmup_steps: 2\n",
            "explicit_log_dir: " + runDir);
    assertThat(runDir).doesNotExist();
    Path file = tmp.resolve("printed.yaml");
    Files.writeString(file, printed.out());
    CliRun again = CliRun.of("train", "--config", file.toString(), "--print-config");
    assertThat(again.exitCode()).as(again.err()).isZero();
    assertThat(withoutComments(again.out())).isEqualTo(withoutComments(printed.out()));
  }

  private static String withoutComments(String yaml) {
    return yaml.lines().filter(l -> !l.startsWith("#")).reduce("", (a, b) -> a + b + "\n");
  }

  @Test
  void everyMistakeOfANemoFileIsReportedAtOnce() throws IOException {
    Path file = tmp.resolve("four.yaml");
    Files.writeString(
        file,
        """
        trainer:
          precision: 16
          max_steps: 10
        exp_manager:
          explicit_log_dir: %s
        model:
          micro_batch_size: 2
          global_batch_size: 4
          hidden_dropout: 0.1
          num_layers: two
          activation: gelu
          tokenizer: {library: huggingface, type: %s}
          data:
            data_prefix: [1.0, %s]
        """
            .formatted(tmp.resolve("four"), corpus.tokenizer(), corpus.prefix()));
    CliRun run = CliRun.of("train", "--config", file.toString());
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err())
        .contains(
            "4 mistakes in the config:",
            "four.yaml: trainer.precision: 16: precision 16 is fp16, which needs a loss scaler",
            "four.yaml: model.hidden_dropout: 0.1: cria has no dropout",
            "four.yaml: model.num_layers: 'two': expected an integer",
            "four.yaml: model.activation: 'gelu': cria's Llama uses SwiGLU");
    assertThat(tmp.resolve("four")).doesNotExist();
  }
}
