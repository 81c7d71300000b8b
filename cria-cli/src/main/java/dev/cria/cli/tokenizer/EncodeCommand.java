package dev.cria.cli.tokenizer;

import dev.cria.cli.UserError;
import dev.cria.data.tokenizer.Tokenizer;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.data.tokenizer.Vocabulary;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.StringJoiner;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code cria tokenizer encode}: text to ids. */
@Command(
    name = "encode",
    mixinStandardHelpOptions = true,
    description = "Print the token ids of each TEXT (or of each line of standard input).")
final class EncodeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = {"-t", "--tokenizer"},
      required = true,
      paramLabel = "PATH",
      description = "tokenizer.model, tokenizer.json, or a directory with either.")
  Path tokenizer;

  @Option(names = "--bos", description = "Put BOS in front.")
  boolean bos;

  @Option(names = "--eos", description = "Put EOS at the end.")
  boolean eos;

  @Option(names = "--pieces", description = "Print pieces beside the ids.")
  boolean pieces;

  @Parameters(
      paramLabel = "TEXT",
      arity = "0..*",
      description = "Texts to encode; none reads lines from stdin.")
  List<String> texts;

  @Override
  public Integer call() throws Exception {
    Tokenizer tok = Tokenizers.load(tokenizer);
    PrintWriter out = spec.commandLine().getOut();
    if (texts != null && !texts.isEmpty()) {
      for (String text : texts) {
        print(out, tok, text);
      }
    } else {
      encodeLines(new java.io.BufferedInputStream(System.in), out, tok);
    }
    out.flush();
    return 0;
  }

  /**
   * Encodes each line of {@code in} (ended by LF or CRLF), decoded strictly: a line that is not
   * UTF-8 is refused, naming it, rather than encoded as U+FFFD.
   */
  private void encodeLines(java.io.InputStream in, PrintWriter out, Tokenizer tok)
      throws java.io.IOException {
    java.nio.charset.CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder();
    java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
    long number = 0;
    int b;
    do {
      b = in.read();
      if (b >= 0 && b != '\n') {
        line.write(b);
        continue;
      }
      if (b < 0 && line.size() == 0) {
        break; // the input ended with its last line's newline
      }
      number++;
      byte[] bytes = line.toByteArray();
      int end =
          bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
      try {
        print(out, tok, utf8.decode(java.nio.ByteBuffer.wrap(bytes, 0, end)).toString());
      } catch (java.nio.charset.CharacterCodingException e) {
        out.flush();
        throw new UserError(
            "standard input, line "
                + number
                + ": not valid UTF-8 (the lines before it were encoded)");
      }
      line.reset();
    } while (b >= 0);
  }

  private void print(PrintWriter out, Tokenizer tok, String text) {
    int[] ids = tok.encode(text, bos, eos);
    StringJoiner line = new StringJoiner(" ");
    for (int id : ids) {
      line.add(
          pieces ? id + ":" + Vocabulary.quote(tok.vocabulary().piece(id)) : String.valueOf(id));
    }
    out.println(line);
  }
}
