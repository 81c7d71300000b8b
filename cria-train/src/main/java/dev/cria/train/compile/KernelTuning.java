package dev.cria.train.compile;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.TunedKernel;
import dev.cria.engine.model.KernelShapes;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.train.TrainingSetup;
import dev.cria.train.config.TrainConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The tuning half of {@code cria compile}: opens the run's backend with the threads each rank will
 * have, times the products of one training step ({@link KernelShapes}) and writes the choices to
 * the run's compile cache ({@link KernelCache}), unless a valid entry is already there.
 */
public final class KernelTuning {
  private KernelTuning() {}

  /**
   * What was done.
   *
   * @param entry the cache entry written or found
   * @param kernels one per shape
   * @param reused whether the entry was already there (nothing was timed)
   * @param machine the backend's description of this machine
   */
  public record Result(Path entry, List<TunedKernel> kernels, boolean reused, String machine) {
    /** Seconds the shapes take once each, on the defaults and on the choices. */
    public double[] seconds() {
      double plain = 0;
      double tuned = 0;
      for (TunedKernel k : kernels) {
        plain += k.shape().flops() / (k.defaultGflops() * 1e9);
        tuned += k.shape().flops() / (k.tunedGflops() * 1e9);
      }
      return new double[] {plain, tuned};
    }
  }

  /** Fails before any timing when the cache cannot take an entry, saying what to do. */
  private static void requireWritable(Path kernels) throws IOException {
    try {
      java.nio.file.Files.createDirectories(kernels);
      if (!java.nio.file.Files.isWritable(kernels)) {
        throw new IOException("not writable");
      }
    } catch (IOException | SecurityException e) {
      String why =
          e.getClass().getSimpleName() + (e.getMessage() != null ? ": " + e.getMessage() : "");
      throw new IOException(
          "compile cache "
              + kernels
              + ": cannot write there ("
              + why
              + "); give --compile-cache a writable directory, or --no-compile-cache",
          e);
    }
  }

  /**
   * The compute threads of one rank when {@code ranksPerHost} share a host: {@code
   * trainer.threads}, or the host's cores divided among them (as the launcher and mpirun's ranks
   * divide them).
   */
  public static int threadsPerRank(TrainConfig c, int ranksPerHost) {
    return c.trainer().threads() > 0
        ? c.trainer().threads()
        : Math.max(1, Runtime.getRuntime().availableProcessors() / ranksPerHost);
  }

  /**
   * Tunes {@code model}'s training products for config {@code c} into {@code dir}, or finds them
   * there; empty when the backend has nothing to tune.
   *
   * @param seconds about how long each candidate is timed
   * @param retune time them again even when the cache has them
   * @param progress receives a line per shape and what is being done
   */
  public static Optional<Result> run(
      TrainConfig c,
      LlamaConfig model,
      int ranksPerHost,
      Path dir,
      double seconds,
      boolean retune,
      Consumer<String> progress)
      throws IOException {
    if (java.nio.file.Files.exists(dir) && !java.nio.file.Files.isDirectory(dir)) {
      throw new IOException(
          "compile cache "
              + dir
              + " is a file: give --compile-cache a directory, or --no-compile-cache");
    }
    MemoryPlan.Settings step = MemoryPlan.Settings.of(c, model);
    List<GemmShape> shapes =
        KernelShapes.training(model, step.microBatch() * step.seqLength(), c.trainer().precision());
    if (shapes.isEmpty()) {
      return Optional.empty();
    }
    int threads = threadsPerRank(c, ranksPerHost);
    try (Backend backend = TrainingSetup.openBackend(c.trainer().backend(), threads)) {
      KernelCache.Key key = KernelCache.Key.of(backend, shapes);
      if (!retune) {
        Optional<List<TunedKernel>> found =
            KernelCache.read(dir, key, line -> progress.accept("warning: " + line));
        if (found.isPresent()) {
          return Optional.of(
              new Result(KernelCache.entry(dir, key), found.get(), true, backend.machine()));
        }
      }
      requireWritable(KernelCache.entry(dir, key).getParent());
      progress.accept(
          "kernel tuning: "
              + backend.name()
              + " on "
              + backend.machine()
              + "; "
              + shapes.size()
              + " GEMM shapes of a "
              + step.microBatch()
              + " x "
              + step.seqLength()
              + "-token micro-batch, about "
              + seconds
              + " s per candidate");
      List<TunedKernel> kernels =
          backend.tune(shapes, seconds, line -> progress.accept("  " + line));
      if (kernels.isEmpty()) {
        return Optional.empty();
      }
      Path entry = KernelCache.write(dir, key, kernels);
      return Optional.of(new Result(entry, kernels, false, backend.machine()));
    }
  }
}
