package dev.cria.cli.tokenizer;

import dev.cria.data.tokenizer.PieceType;
import dev.cria.data.tokenizer.SpecialTokens;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.data.tokenizer.Vocabulary;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria tokenizer inspect}: what a tokenizer file holds. */
@Command(
    name = "inspect",
    mixinStandardHelpOptions = true,
    description = "Show a tokenizer's format, vocabulary size, special ids and normalization.")
final class InspectCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(
      paramLabel = "PATH",
      description = "tokenizer.model, tokenizer.json, or a directory with either.")
  Path tokenizer;

  @Override
  public Integer call() {
    Tokenizer tok = Tokenizers.load(tokenizer);
    PrintWriter out = spec.commandLine().getOut();
    Vocabulary v = tok.vocabulary();
    SpecialTokens s = tok.specials();
    Map<PieceType, Integer> byType = new EnumMap<>(PieceType.class);
    for (int id = 0; id < v.size(); id++) {
      byType.merge(v.type(id), 1, Integer::sum);
    }
    out.printf(Locale.ROOT, "tokenizer     %s%n", tok.description());
    out.printf(
        Locale.ROOT, "type          BPE, byte fallback %s%n", tok.byteFallback() ? "on" : "off");
    out.printf(
        Locale.ROOT,
        "vocab size    %d (%s)%n",
        v.size(),
        byType.entrySet().stream()
            .map(e -> e.getValue() + " " + e.getKey().name().toLowerCase(Locale.ROOT))
            .toList()
            .toString()
            .replaceAll("[\\[\\]]", ""));
    out.printf(
        Locale.ROOT,
        "merged pieces %d (merge rules %d: the pairs of pieces that join into one)%n",
        tok.mergedPieceCount(),
        tok.mergeRuleCount());
    out.printf(
        Locale.ROOT,
        "special ids   unk %s, bos %s, eos %s, pad %s%n",
        special(v, s.unk()),
        special(v, s.bos()),
        special(v, s.eos()),
        special(v, s.pad()));
    out.printf(
        Locale.ROOT,
        "normalizer    dummy prefix %s, spaces as U+2581 %s, collapse spaces %s%n",
        onOff(tok.normalizer().addDummyPrefix()),
        onOff(tok.normalizer().escapeWhitespaces()),
        onOff(tok.normalizer().removeExtraWhitespaces()));
    String example = "Hello world";
    out.printf(
        Locale.ROOT,
        "example       %s -> %s%n",
        Vocabulary.quote(example),
        java.util.Arrays.toString(tok.encode(example)));
    return 0;
  }

  private static String special(Vocabulary v, int id) {
    return id < 0 ? "none" : id + " " + Vocabulary.quote(v.piece(id));
  }

  private static String onOff(boolean b) {
    return b ? "on" : "off";
  }
}
