package dev.cria.data.tokenizer;

import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/** Static factories that load a {@link Tokenizer} from disk. */
public final class Tokenizers {
  /** The files of a tokenizer, as a Hugging Face model directory names them. */
  public static final List<String> FILES =
      List.of(
          "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json");

  private Tokenizers() {}

  /**
   * The name a single tokenizer file takes in a model directory: {@code tokenizer.json} for a
   * Hugging Face tokenizer, {@code tokenizer.model} for a SentencePiece model, told by content.
   */
  public static String directoryName(Path file) throws IOException {
    return looksLikeJson(Files.readAllBytes(file)) ? "tokenizer.json" : "tokenizer.model";
  }

  /**
   * Refuses, before any work, a directory {@link #save} should not write into: a file, or a
   * directory that already holds a tokenizer's files unless {@code overwrite} (other files there
   * are left alone either way). Messages name the flag, {@code --output}.
   *
   * @throws IllegalArgumentException saying why
   */
  public static void requireSaveable(Path dir, boolean overwrite) {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new IllegalArgumentException("--output " + dir + " is a file, not a directory");
    }
    if (overwrite) {
      return;
    }
    for (String name : FILES) {
      if (Files.exists(dir.resolve(name))) {
        throw new IllegalArgumentException(
            "--output "
                + dir
                + " already holds a tokenizer ("
                + name
                + "); pick another --output or pass --overwrite to replace its files");
      }
    }
  }

  /**
   * Writes {@code tokenizer} into {@code dir} (created when missing) in the forms cria and Hugging
   * Face read: {@code tokenizer.model} (SentencePiece), {@code tokenizer.json} and {@code
   * tokenizer_config.json}, each file atomically. A form that cannot hold the tokenizer exactly is
   * left out (see {@link SentencePieceModelFile#cannotWrite} and {@link
   * HfTokenizerJsonFile#cannotWrite}; every tokenizer fits one of the two), and an earlier
   * tokenizer's file of that form is removed, so that the directory holds one tokenizer.
   */
  public static void save(Tokenizer tokenizer, Path dir) throws IOException {
    Files.createDirectories(dir);
    if (SentencePieceModelFile.cannotWrite(tokenizer).isEmpty()) {
      AtomicFiles.write(dir.resolve("tokenizer.model"), SentencePieceModelFile.write(tokenizer));
    } else {
      Files.deleteIfExists(dir.resolve("tokenizer.model"));
    }
    if (HfTokenizerJsonFile.cannotWrite(tokenizer).isEmpty()) {
      AtomicFiles.writeString(dir.resolve("tokenizer.json"), HfTokenizerJsonFile.write(tokenizer));
    } else {
      Files.deleteIfExists(dir.resolve("tokenizer.json"));
    }
    AtomicFiles.writeString(
        dir.resolve("tokenizer_config.json"), HfTokenizerJsonFile.writeConfig(tokenizer));
  }

  /**
   * Loads a tokenizer from a SentencePiece {@code .model} file, a Hugging Face {@code
   * tokenizer.json}, or a directory holding either ({@code tokenizer.model} preferred). The format
   * is told by content, not by name.
   *
   * @throws TokenizerFormatException when the file is missing, malformed or unsupported
   */
  public static Tokenizer load(Path path) {
    if (Files.isDirectory(path)) {
      Path model = path.resolve("tokenizer.model");
      Path json = path.resolve("tokenizer.json");
      if (Files.isRegularFile(model)) {
        try {
          return load(model);
        } catch (TokenizerFormatException e) {
          if (!Files.isRegularFile(json)) {
            throw e;
          }
          throw new TokenizerFormatException(
              e.getMessage()
                  + " (the directory also holds tokenizer.json, read only when tokenizer.model is"
                  + " absent: name "
                  + json
                  + " to use it)");
        }
      }
      if (Files.isRegularFile(json)) {
        return load(json);
      }
      throw new TokenizerFormatException(
          path + ": directory has neither tokenizer.model nor tokenizer.json");
    }
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(path);
    } catch (NoSuchFileException e) {
      throw new TokenizerFormatException(path + ": no such tokenizer file");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read tokenizer " + path, e);
    }
    if (looksLikeJson(bytes)) {
      return HfTokenizerJsonFile.read(path, bytes);
    }
    return SentencePieceModelFile.read(bytes, path.toString());
  }

  private static boolean looksLikeJson(byte[] bytes) {
    for (byte b : bytes) {
      if (b == ' ' || b == '\n' || b == '\r' || b == '\t') {
        continue;
      }
      return b == '{';
    }
    return false;
  }
}
