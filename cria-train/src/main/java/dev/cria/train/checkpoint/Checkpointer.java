package dev.cria.train.checkpoint;

import dev.cria.data.io.AtomicFiles;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.dist.Collective;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Saves checkpoints of a run from every rank of its group. Each rank writes its own optimizer
 * shard, in parallel; rank 0 also writes the model, the state, the config and the tokenizer, then,
 * once every rank is done, the manifest, and renames the finished {@code .step-N.partial}
 * directory to {@code step-N}. Before that rename nothing looks like a checkpoint, so a crash at
 * any point leaves the previous checkpoint the newest one.
 */
public final class Checkpointer {
  private final Path runDir;
  private final Collective group;
  private final int keepLast;

  /** What one save wrote and how long it took on this rank. */
  public record Saved(Path dir, long bytes, double seconds, List<Path> pruned) {}

  /** Everything a checkpoint holds besides the optimizer, which each rank passes itself. */
  public record Contents(TrainingState state, String configYaml, Path tokenizer, ParameterLayout layout,
      Floats parameters) {}

  /**
   * @param keepLast finished checkpoints kept after each save (older ones are deleted)
   */
  public Checkpointer(Path runDir, Collective group, int keepLast) {
    if (keepLast < 1) {
      throw new IllegalArgumentException("keep at least one checkpoint, got " + keepLast);
    }
    this.runDir = runDir;
    this.group = group;
    this.keepLast = keepLast;
  }

  /** Saves step {@code contents.state().step()}; every rank of the group calls it together. */
  public Saved save(Contents contents, List<AdamW> optimizers) throws IOException {
    long t0 = System.nanoTime();
    long step = contents.state().step();
    int rank = group.rank();
    int world = group.worldSize();
    Path partial = Checkpoints.directory(runDir).resolve(".step-" + step + ".partial");
    if (rank == 0) {
      AtomicFiles.deleteTree(partial);
      Files.createDirectories(partial.resolve(Checkpoint.OPTIMIZER_DIR));
    }
    group.barrier();

    String shard = String.format(Locale.ROOT, "%s/rank-%05d-of-%05d.safetensors", Checkpoint.OPTIMIZER_DIR, rank,
        world);
    List<SafetensorsWriter.Tensor> moments = new ArrayList<>();
    for (AdamW adam : optimizers) {
      long n = adam.to() - adam.from();
      if (n > 0) {
        moments.add(new SafetensorsWriter.Tensor(Checkpoint.FIRST + adam.from(), new long[] {n},
            adam.firstMoment().segment().asSlice(0, n * Float.BYTES)));
        moments.add(new SafetensorsWriter.Tensor(Checkpoint.SECOND + adam.from(), new long[] {n},
            adam.secondMoment().segment().asSlice(0, n * Float.BYTES)));
      }
    }
    SafetensorsWriter.Written written = SafetensorsWriter.write(partial.resolve(shard), moments,
        SafetensorsWriter.Dtype.F32, Map.of("rank", Integer.toString(rank), "world_size", Integer.toString(world),
            "optimizer_steps", Long.toString(contents.state().optimizerSteps())));
    // The sum travels to rank 0 through the shared directory, so rank 0 need not re-read the shard.
    AtomicFiles.writeString(partial.resolve(shard + ".sum"), written.bytes() + " " + written.crc32c());

    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
    if (rank == 0) {
      SafetensorsWriter.Written model = SafetensorsWriter.writeF32(partial.resolve(Checkpoint.MODEL),
          contents.layout(), contents.parameters(), Map.of("format", "pt", "step", Long.toString(step)));
      files.put(Checkpoint.MODEL, new Manifest.FileEntry(model.bytes(), model.crc32c()));
      contents.state().write(partial);
      AtomicFiles.writeString(partial.resolve(Checkpoint.CONFIG), contents.configYaml());
      List<String> small = new ArrayList<>(List.of(TrainingState.FILE, Checkpoint.CONFIG));
      small.addAll(copyTokenizer(contents.tokenizer(), partial));
      for (String name : small) {
        Path f = partial.resolve(name);
        files.put(name, new Manifest.FileEntry(Files.size(f), Manifest.crc32c(f)));
      }
    }
    group.barrier(); // every shard is on disk

    List<Path> pruned = List.of();
    if (rank == 0) {
      for (int r = 0; r < world; r++) {
        String name = String.format(Locale.ROOT, "%s/rank-%05d-of-%05d.safetensors", Checkpoint.OPTIMIZER_DIR, r,
            world);
        Path sum = partial.resolve(name + ".sum");
        String[] parts = Files.readString(sum, StandardCharsets.UTF_8).strip().split(" ");
        files.put(name, new Manifest.FileEntry(Long.parseLong(parts[0]), Long.parseLong(parts[1])));
        Files.delete(sum);
      }
      new Manifest(step, files).write(partial);
      AtomicFiles.fsyncDirectory(partial.resolve(Checkpoint.OPTIMIZER_DIR));
      AtomicFiles.fsyncDirectory(partial);
      Path target = Checkpoints.stepDirectory(runDir, step);
      Path replaced = null;
      if (Files.exists(target)) { // the same step saved again: the old copy goes once the new one is in place
        replaced = target.resolveSibling(".deleting-" + target.getFileName());
        AtomicFiles.deleteTree(replaced);
        Files.move(target, replaced);
      }
      Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
      AtomicFiles.fsyncDirectory(target.getParent());
      AtomicFiles.deleteTree(replaced);
      pruned = Checkpoints.prune(runDir, keepLast);
    }
    group.barrier(); // the checkpoint is in place for every rank
    long bytes = rank == 0 ? files.values().stream().mapToLong(Manifest.FileEntry::bytes).sum() : written.bytes();
    return new Saved(Checkpoints.stepDirectory(runDir, step), bytes, (System.nanoTime() - t0) / 1e9, pruned);
  }

  /** Copies the run's tokenizer files into the checkpoint; returns their names there. */
  private static List<String> copyTokenizer(Path tokenizer, Path dir) throws IOException {
    if (tokenizer == null) {
      return List.of();
    }
    List<String> names = new ArrayList<>();
    if (Files.isDirectory(tokenizer)) {
      for (String name : List.of("tokenizer.model", "tokenizer.json", "tokenizer_config.json",
          "special_tokens_map.json")) {
        if (Files.isRegularFile(tokenizer.resolve(name))) {
          AtomicFiles.copy(tokenizer.resolve(name), dir.resolve(name));
          names.add(name);
        }
      }
      return names;
    }
    String name = looksLikeJson(tokenizer) ? "tokenizer.json" : "tokenizer.model";
    AtomicFiles.copy(tokenizer, dir.resolve(name));
    return List.of(name);
  }

  private static boolean looksLikeJson(Path file) throws IOException {
    try (var in = Files.newInputStream(file)) {
      int b;
      while ((b = in.read()) != -1) {
        if (!Character.isWhitespace(b)) {
          return b == '{';
        }
      }
    }
    return false;
  }
}
