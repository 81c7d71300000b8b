package dev.cria.cli.tokenizer;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code cria tokenizer}: the tokenizer tools, one subcommand each. */
@Command(
    name = "tokenizer",
    mixinStandardHelpOptions = true,
    description = "Encode, decode, inspect or train a Llama-style tokenizer.",
    subcommands = {
      EncodeCommand.class,
      DecodeCommand.class,
      InspectCommand.class,
      TrainTokenizerCommand.class
    })
public final class TokenizerCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
