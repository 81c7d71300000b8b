package dev.cria.train.checkpoint;

import dev.cria.core.checksum.Checksums;
import dev.cria.core.io.AtomicFiles;
import dev.cria.data.tokenizer.Tokenizers;
import dev.cria.engine.io.SafetensorsWriter;
import dev.cria.engine.model.ParameterLayout;
import dev.cria.engine.optim.AdamW;
import dev.cria.engine.parallel.Collective;
import dev.cria.engine.tensor.DType;
import dev.cria.engine.tensor.Floats;
import dev.cria.train.distributed.RankValues;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Saves checkpoints of a run from every rank of its group. Each rank writes its own optimizer
 * shard, in parallel; rank 0 also writes the model, the state, the config and the tokenizer, then,
 * once every rank's shard is on disk, the manifest, and renames the finished {@code
 * .step-N.partial} directory to {@code step-N}. Before that rename nothing looks like a checkpoint,
 * so a crash at any point leaves the previous checkpoint the newest one.
 *
 * <p>{@link #save} does it all before returning. {@link #saveInBackground} copies the tensors into
 * a snapshot (a memory copy, a fraction of the time of writing) and writes them on a thread of its
 * own while training goes on; rank 0 then learns that the other ranks are done from the checksum
 * files they leave beside their shards rather than from a collective, which the training thread
 * owns.
 */
public final class Checkpointer implements AutoCloseable {
  /** How long ranks wait for each other around a save (rank 0 writes the model alone meanwhile). */
  public static final Duration PATIENCE = Duration.ofMinutes(30);

  private final Path runDir;
  private final Collective group;
  private final int keepLast;
  private ExecutorService writer;
  private Future<Saved> pending;
  private Arena snapshotArena;
  private Floats snapshotParameters;
  private List<MomentSegments> snapshotMoments;

  /** What one save wrote and how long it took on this rank. */
  public record Saved(Path dir, long bytes, double seconds, List<Path> pruned) {}

  /** Everything a checkpoint holds besides the optimizer, which each rank passes itself. */
  public record Contents(
      TrainingState state,
      String configYaml,
      Path tokenizer,
      ParameterLayout layout,
      Floats parameters) {}

  /**
   * The AdamW moments of parameters {@code [from, from + length)} as the segments a shard is
   * written from (the live buffers, or their copies for a background save); {@link
   * Checkpoint.Moments} is where a resume reads them into.
   */
  private record MomentSegments(
      long from, MemorySegment first, MemorySegment second, SafetensorsWriter.Dtype stored) {
    static MomentSegments of(AdamW adam) {
      return new MomentSegments(
          adam.from(),
          Checkpoint.hostBytes(adam.firstMoment()),
          Checkpoint.hostBytes(adam.secondMoment()),
          // bf16-sr's moments are stored, and so written, in bf16
          adam.firstMoment().dtype() == DType.BF16
              ? SafetensorsWriter.Dtype.BF16
              : SafetensorsWriter.Dtype.F32);
    }

    long length() {
      return first.byteSize() / stored.width();
    }
  }

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
    awaitBackground();
    long t0 = System.nanoTime();
    long step = contents.state().step();
    long needed = requireRoom(contents, optimizers, step);
    Path partial = partial(step);
    if (group.rank() == 0) {
      AtomicFiles.deleteTree(partial);
      Files.createDirectories(partial.resolve(Checkpoint.OPTIMIZER_DIR));
    }
    group.barrier(PATIENCE); // rank 0 may first have waited for its background save
    long shard;
    Map<String, Manifest.FileEntry> files;
    try {
      shard =
          writeShard(
              partial, contents.state(), optimizers.stream().map(MomentSegments::of).toList());
      files = group.rank() == 0 ? writeRankZeroFiles(partial, contents) : Map.of();
    } catch (IOException e) {
      // whatever was written of this step goes; the earlier checkpoints stay as they are
      if (group.rank() == 0) {
        AtomicFiles.deleteTree(partial);
      }
      throw writeFailed(step, needed, e);
    }
    group.barrier(PATIENCE); // every shard is on disk
    Saved saved =
        group.rank() == 0
            ? finish(partial, contents.state().step(), files, t0, Duration.ZERO)
            : new Saved(
                Checkpoints.stepDirectory(runDir, contents.state().step()), shard, 0, List.of());
    group.barrier(PATIENCE); // the checkpoint is in place for every rank
    return new Saved(saved.dir(), saved.bytes(), (System.nanoTime() - t0) / 1e9, saved.pruned());
  }

  /**
   * Saves step {@code contents.state().step()} of a model split by tensor parallelism, as the job's
   * rank 0, this checkpointer's group being a group of one: {@code whole} gathers the model a
   * tensor at a time while every other rank of the job calls {@link WholeModel#gather} with it, and
   * each tensor and its moments are written as they come, the model to {@code model.safetensors}
   * and the moments to one optimizer shard; then the files {@link #save} writes beside them, the
   * manifest and the rename. {@code contents.parameters()} is not read.
   */
  public Saved saveStreamed(Contents contents, WholeModel whole) throws IOException {
    if (group.worldSize() != 1) {
      throw new IllegalStateException("a streamed save is written by one rank");
    }
    awaitBackground();
    long t0 = System.nanoTime();
    long step = contents.state().step();
    ParameterLayout layout = whole.layout();
    long needed =
        requireRoom((1 << 20) + 3 * layout.size() * Float.BYTES + tokenizerBytes(contents), step);
    Path partial = partial(step);
    AtomicFiles.deleteTree(partial);
    Files.createDirectories(partial.resolve(Checkpoint.OPTIMIZER_DIR));
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
    String shard = shardName(0, 1);
    List<SafetensorsWriter.Spec> moments = new ArrayList<>();
    for (ParameterLayout.Tensor t : layout.tensors()) {
      moments.add(new SafetensorsWriter.Spec(Checkpoint.FIRST + t.offset(), new long[] {t.size()}));
      moments.add(
          new SafetensorsWriter.Spec(Checkpoint.SECOND + t.offset(), new long[] {t.size()}));
    }
    try {
      try (SafetensorsWriter.Streamed model =
              SafetensorsWriter.streamed(
                  partial.resolve(Checkpoint.MODEL),
                  WholeModel.specs(layout),
                  Map.of("format", "pt", "step", Long.toString(step)));
          SafetensorsWriter.Streamed optimizer =
              SafetensorsWriter.streamed(
                  partial.resolve(shard),
                  moments,
                  Map.of(
                      "rank",
                      "0",
                      "world_size",
                      "1",
                      "optimizer_steps",
                      Long.toString(contents.state().optimizerSteps())))) {
        for (int i = 0; i < layout.tensors().size(); i++) {
          whole.gather(i, true);
          model.append(whole.parameters(i));
          optimizer.append(whole.firstMoment(i));
          optimizer.append(whole.secondMoment(i));
        }
        SafetensorsWriter.Written m = model.finish();
        files.put(Checkpoint.MODEL, new Manifest.FileEntry(m.bytes(), m.crc32c()));
        SafetensorsWriter.Written o = optimizer.finish();
        AtomicFiles.writeString(partial.resolve(shard + ".sum"), o.bytes() + " " + o.crc32c());
      }
      files.putAll(writeSmallFiles(partial, contents));
    } catch (IOException e) {
      AtomicFiles.deleteTree(partial); // the earlier checkpoints stay as they are
      throw writeFailed(step, needed, e);
    }
    return finish(partial, step, files, t0, Duration.ZERO);
  }

  /**
   * Copies the tensors and starts writing them on a background thread; returns once the copy is
   * made, the time training stands still. Waits first for the previous background save; reports its
   * failure. Every rank calls it together, as {@link #save}.
   */
  public void saveInBackground(Contents contents, List<AdamW> optimizers) throws IOException {
    awaitBackground();
    requireRoom(contents, optimizers, contents.state().step());
    long t0 = System.nanoTime();
    snapshot(contents, optimizers);
    Contents copy =
        new Contents(
            contents.state(),
            contents.configYaml(),
            contents.tokenizer(),
            contents.layout(),
            group.rank() == 0 ? snapshotParameters : null);
    List<MomentSegments> moments = snapshotMoments;
    long step = contents.state().step();
    if (writer == null) {
      writer =
          Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "cria-checkpoint-writer");
            t.setDaemon(
                true); // a run that ends normally waits for it; a crash leaves a .partial, removed
            // on resume
            return t;
          });
    }
    pending =
        writer.submit(() -> {
          Path partial = partial(step);
          Files.createDirectories(partial.resolve(Checkpoint.OPTIMIZER_DIR));
          long shard = writeShard(partial, copy.state(), moments);
          if (group.rank() != 0) {
            return new Saved(
                Checkpoints.stepDirectory(runDir, step),
                shard,
                (System.nanoTime() - t0) / 1e9,
                List.of());
          }
          return finish(partial, step, writeRankZeroFiles(partial, copy), t0, PATIENCE);
        });
  }

  /**
   * Waits for the background save, if one is running; returns what it saved (null when there was
   * none) or throws its failure.
   */
  public Saved awaitBackground() throws IOException {
    if (pending == null) {
      return null;
    }
    Future<Saved> f = pending;
    pending = null;
    try {
      return f.get();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof IOException io) {
        throw new IOException("a background checkpoint save failed: " + io.getMessage(), io);
      }
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      throw new IOException("a background checkpoint save failed", cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for a checkpoint save", e);
    }
  }

  /**
   * After a failure: gives the background save up to {@code patience} to finish (a rank-0 save
   * whose other ranks died would wait for their shards for long), then interrupts it; its
   * unfinished directory is removed when the run resumes. Reports nothing.
   */
  public void abandonBackground(Duration patience) {
    if (pending == null) {
      return;
    }
    Future<Saved> f = pending;
    pending = null;
    try {
      f.get(patience.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      f.cancel(true);
    } catch (ExecutionException e) {
      // the run is failing already; the save's own failure adds nothing
    } catch (InterruptedException e) {
      f.cancel(true);
      Thread.currentThread().interrupt();
    }
  }

  /** Whether a background save is still being written. */
  public boolean busy() {
    return pending != null && !pending.isDone();
  }

  private Path partial(long step) {
    return Checkpoints.directory(runDir).resolve(".step-" + step + ".partial");
  }

  private static String shardName(int rank, int world) {
    return String.format(
        Locale.ROOT, "%s/rank-%05d-of-%05d.safetensors", Checkpoint.OPTIMIZER_DIR, rank, world);
  }

  /** This rank's optimizer shard, and beside it its size and CRC-32C for rank 0's manifest. */
  /**
   * Checks, before writing anything, that every rank's file system has room for its part of the
   * checkpoint (rank 0: the model and the small files too); if any has not, every rank stops with a
   * message naming the path, the step, what is needed and what is free. Returns this rank's need.
   */
  private long requireRoom(Contents contents, List<AdamW> optimizers, long step)
      throws IOException {
    long needed = 1 << 20; // manifest, state, config, checksums
    for (AdamW a : optimizers) {
      needed += a.stateBytes();
    }
    if (group.rank() == 0) {
      needed += contents.parameters().length() * Float.BYTES + tokenizerBytes(contents);
    }
    return requireRoom(needed, step);
  }

  private static long tokenizerBytes(Contents contents) throws IOException {
    long bytes = 0;
    if (contents.tokenizer() != null) {
      for (String name : Tokenizers.FILES) {
        Path f = contents.tokenizer().resolve(name);
        bytes += Files.isRegularFile(f) ? Files.size(f) : 0;
      }
    }
    return bytes;
  }

  /** As above, for {@code needed} bytes on this rank. */
  private long requireRoom(long needed, long step) throws IOException {
    long free = usableBytes();
    boolean short_ = needed > free;
    long shortRanks = Math.round(new RankValues(group).sum(short_ ? 1 : 0));
    if (shortRanks > 0) {
      throw new CheckpointException(
          "cannot save the checkpoint of step "
              + step
              + " in "
              + Checkpoints.directory(runDir)
              + (short_
                  ? String.format(
                      Locale.ROOT,
                      ": it needs %.1f MB on this rank and %.1f MB are free",
                      needed / 1e6,
                      free / 1e6)
                  : ": " + shortRanks + " other rank(s) lack the room, see their logs")
              + "; nothing of it was written and the earlier checkpoints are kept. Free some space,"
              + " or lower checkpoint.keep_last");
    }
    return needed;
  }

  /** The error of a save that could not write its files, which needed {@code needed} bytes. */
  private CheckpointException writeFailed(long step, long needed, IOException e)
      throws IOException {
    return new CheckpointException(
        "could not write the checkpoint of step "
            + step
            + " in "
            + Checkpoints.directory(runDir)
            + ": "
            + e.getMessage()
            + String.format(
                Locale.ROOT,
                " (it needs %.1f MB on this rank, %.1f MB were free); the earlier checkpoints are"
                    + " kept",
                needed / 1e6,
                usableBytes() / 1e6),
        e);
  }

  /** Bytes free for checkpoints on the file system of the run directory. */
  private long usableBytes() throws IOException {
    Path where = Checkpoints.directory(runDir);
    while (where != null && !Files.exists(where)) {
      where = where.getParent();
    }
    if (where == null) {
      return Long.MAX_VALUE;
    }
    try {
      return Files.getFileStore(where).getUsableSpace();
    } catch (IOException e) {
      // no mount table entry for it (a chroot, some containers): ask the file system directly
      java.io.File dir = where.toFile();
      return dir.getTotalSpace() == 0 ? Long.MAX_VALUE : dir.getUsableSpace();
    }
  }

  private long writeShard(Path partial, TrainingState state, List<MomentSegments> moments)
      throws IOException {
    String shard = shardName(group.rank(), group.worldSize());
    List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
    // every part of a rank's optimizer stores its moments alike: the shard holds them as stored
    SafetensorsWriter.Dtype type =
        moments.isEmpty() ? SafetensorsWriter.Dtype.F32 : moments.getFirst().stored();
    for (MomentSegments m : moments) {
      if (m.length() > 0) {
        tensors.add(
            new SafetensorsWriter.Tensor(
                Checkpoint.FIRST + m.from(), new long[] {m.length()}, m.first(), m.stored()));
        tensors.add(
            new SafetensorsWriter.Tensor(
                Checkpoint.SECOND + m.from(), new long[] {m.length()}, m.second(), m.stored()));
      }
    }
    SafetensorsWriter.Written written =
        SafetensorsWriter.write(
            partial.resolve(shard),
            tensors,
            type,
            Map.of(
                "rank",
                Integer.toString(group.rank()),
                "world_size",
                Integer.toString(group.worldSize()),
                "optimizer_steps",
                Long.toString(state.optimizerSteps())));
    // The sum travels to rank 0 through the shared directory, so rank 0 need not re-read the shard.
    AtomicFiles.writeString(
        partial.resolve(shard + ".sum"), written.bytes() + " " + written.crc32c());
    return written.bytes();
  }

  /** Rank 0's files: the model, the state, the config, the tokenizer; their manifest entries. */
  private static Map<String, Manifest.FileEntry> writeRankZeroFiles(Path partial, Contents contents)
      throws IOException {
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
    SafetensorsWriter.Written model =
        SafetensorsWriter.writeF32(
            partial.resolve(Checkpoint.MODEL),
            contents.layout(),
            contents.parameters(),
            Map.of("format", "pt", "step", Long.toString(contents.state().step())));
    files.put(Checkpoint.MODEL, new Manifest.FileEntry(model.bytes(), model.crc32c()));
    files.putAll(writeSmallFiles(partial, contents));
    return files;
  }

  /** Rank 0's files but the model: the state, the config, the tokenizer; their entries. */
  private static Map<String, Manifest.FileEntry> writeSmallFiles(Path partial, Contents contents)
      throws IOException {
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
    contents.state().write(partial);
    AtomicFiles.writeString(partial.resolve(Checkpoint.CONFIG), contents.configYaml());
    List<String> small = new ArrayList<>(List.of(TrainingState.FILE, Checkpoint.CONFIG));
    small.addAll(copyTokenizer(contents.tokenizer(), partial));
    for (String name : small) {
      Path f = partial.resolve(name);
      files.put(name, new Manifest.FileEntry(Files.size(f), Checksums.crc32c(f)));
    }
    return files;
  }

  /**
   * Rank 0, once the shards are written (waiting up to {@code wait} for their sums to appear): the
   * manifest, the rename that makes the checkpoint exist, and the pruning of old ones.
   */
  private Saved finish(
      Path partial, long step, Map<String, Manifest.FileEntry> rankZero, long t0, Duration wait)
      throws IOException {
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>(rankZero);
    long deadline = System.nanoTime() + wait.toNanos();
    for (int r = 0; r < group.worldSize(); r++) {
      String name = shardName(r, group.worldSize());
      Path sum = partial.resolve(name + ".sum");
      while (!Files.exists(sum)) {
        if (System.nanoTime() > deadline) {
          throw new IOException(
              partial
                  + ": rank "
                  + r
                  + " did not write its optimizer shard within "
                  + wait.toMinutes()
                  + " minutes");
        }
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(
              partial + ": interrupted while waiting for rank " + r + "'s optimizer shard", e);
        }
      }
      String[] parts = Files.readString(sum, StandardCharsets.UTF_8).strip().split(" ");
      files.put(name, new Manifest.FileEntry(Long.parseLong(parts[0]), Long.parseLong(parts[1])));
      Files.delete(sum);
    }
    new Manifest(step, files).write(partial);
    AtomicFiles.fsyncDirectory(partial.resolve(Checkpoint.OPTIMIZER_DIR));
    AtomicFiles.fsyncDirectory(partial);
    Path target = Checkpoints.stepDirectory(runDir, step);
    Path replaced = null;
    if (Files.exists(
        target)) { // the same step saved again: the old copy goes once the new one is in place
      replaced = target.resolveSibling(Checkpoints.REPLACED + target.getFileName());
      AtomicFiles.deleteTree(replaced);
      Files.move(target, replaced);
    }
    Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE);
    AtomicFiles.fsyncDirectory(target.getParent());
    AtomicFiles.deleteTree(replaced);
    List<Path> pruned = Checkpoints.prune(runDir, keepLast);
    long bytes = files.values().stream().mapToLong(Manifest.FileEntry::bytes).sum();
    return new Saved(target, bytes, (System.nanoTime() - t0) / 1e9, pruned);
  }

  /**
   * Allocates (and touches) the buffers that background saves copy into, so that the first save
   * does not pay for them; returns their bytes. Called once, before training, when saves go to the
   * background.
   */
  public long allocateSnapshot(Floats parameters, List<AdamW> optimizers) {
    if (snapshotArena == null) {
      snapshotArena = Arena.ofShared();
      if (group.rank() == 0) {
        snapshotParameters = Floats.allocate(snapshotArena, parameters.length());
      }
      List<MomentSegments> copies = new ArrayList<>();
      for (AdamW adam : optimizers) {
        MomentSegments m = MomentSegments.of(adam);
        long size = m.first().byteSize(); // as stored: bf16-sr's copies are half the size
        copies.add(
            new MomentSegments(
                m.from(),
                snapshotArena.allocate(Math.max(1, size), 64).asSlice(0, size),
                snapshotArena.allocate(Math.max(1, size), 64).asSlice(0, size),
                m.stored()));
      }
      snapshotMoments = List.copyOf(copies);
    }
    long bytes = snapshotParameters == null ? 0 : snapshotParameters.length() * Float.BYTES;
    for (MomentSegments m : snapshotMoments) {
      bytes += 2 * m.first().byteSize();
    }
    return bytes;
  }

  /** Copies what the background save writes, into buffers kept from one save to the next. */
  private void snapshot(Contents contents, List<AdamW> optimizers) {
    allocateSnapshot(contents.parameters(), optimizers);
    if (group.rank() == 0) {
      snapshotParameters.copyFrom(contents.parameters(), 0, 0, contents.parameters().length());
    }
    for (int i = 0; i < optimizers.size(); i++) {
      MomentSegments live = MomentSegments.of(optimizers.get(i));
      snapshotMoments.get(i).first().copyFrom(live.first());
      snapshotMoments.get(i).second().copyFrom(live.second());
    }
  }

  /** Copies the run's tokenizer files into the checkpoint; returns their names there. */
  private static List<String> copyTokenizer(Path tokenizer, Path dir) throws IOException {
    if (tokenizer == null) {
      return List.of();
    }
    if (!Files.isDirectory(tokenizer)) {
      String name = Tokenizers.directoryName(tokenizer);
      AtomicFiles.copy(tokenizer, dir.resolve(name));
      return List.of(name);
    }
    List<String> names = new ArrayList<>();
    for (String name : Tokenizers.FILES) {
      if (Files.isRegularFile(tokenizer.resolve(name))) {
        AtomicFiles.copy(tokenizer.resolve(name), dir.resolve(name));
        names.add(name);
      }
    }
    return names;
  }

  /** Waits for a background save and frees the snapshot. */
  @Override
  public void close() throws IOException {
    try {
      awaitBackground();
    } finally {
      if (writer != null) {
        writer.shutdown();
      }
      if (snapshotArena != null) {
        snapshotArena.close();
        snapshotArena = null;
      }
    }
  }
}
