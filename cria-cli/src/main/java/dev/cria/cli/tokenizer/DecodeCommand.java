package dev.cria.cli.tokenizer;

import dev.cria.cli.UserError;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria tokenizer decode}: ids to text. */
@Command(
    name = "decode",
    mixinStandardHelpOptions = true,
    description = "Print the text of the given ids (or of each line of ids on standard input).")
final class DecodeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = {"-t", "--tokenizer"},
      required = true,
      paramLabel = "PATH",
      description = "tokenizer.model, tokenizer.json, or a directory with either.")
  Path tokenizer;

  @Parameters(
      paramLabel = "ID",
      arity = "0..*",
      description = "Ids (spaces or commas between); none reads stdin.")
  List<String> ids;

  @Override
  public Integer call() throws Exception {
    Tokenizer tok = Tokenizers.load(tokenizer);
    PrintWriter out = spec.commandLine().getOut();
    if (ids != null && !ids.isEmpty()) {
      out.println(tok.decode(parse(String.join(" ", ids))));
    } else {
      BufferedReader in =
          new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      for (String line; (line = in.readLine()) != null; ) {
        out.println(tok.decode(parse(line)));
      }
    }
    out.flush();
    return 0;
  }

  static int[] parse(String text) {
    List<Integer> out = new ArrayList<>();
    for (String part : text.replace('[', ' ').replace(']', ' ').split("[\\s,]+")) {
      if (part.isEmpty()) {
        continue;
      }
      try {
        out.add(Integer.parseInt(part));
      } catch (NumberFormatException e) {
        throw new UserError("'" + part + "' is not a token id (expected integers)");
      }
    }
    return out.stream().mapToInt(Integer::intValue).toArray();
  }
}
