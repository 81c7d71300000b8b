package dev.cria.train.compile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.engine.backend.Backend;
import dev.cria.engine.backend.Backends;
import dev.cria.engine.backend.GemmShape;
import dev.cria.engine.backend.TunedKernel;
import dev.cria.engine.model.Precision;
import dev.cria.train.config.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelCacheTest {
  @TempDir Path dir;

  private static final List<GemmShape> SHAPES = GemmShape.ofLinear(64, 32, 96);

  private static KernelCache.Key key(String machine) {
    return new KernelCache.Key("1.0", "cpu", machine, SHAPES);
  }

  private static List<TunedKernel> kernels(double gflops) {
    List<TunedKernel> out = new ArrayList<>();
    for (GemmShape s : SHAPES) {
      out.add(new TunedKernel(s, "mr=6 mc=72 nc=512 grid=auto", 100, gflops));
    }
    return out;
  }

  @Test
  void anEntryReadsBackAsWritten() throws Exception {
    Path file = KernelCache.write(dir, key("m1"), kernels(110.5));
    assertThat(file.getParent()).isEqualTo(dir.resolve("kernels"));
    assertThat(file.getFileName().toString()).matches("cpu-[0-9a-f]{16}\\.json");
    List<String> warnings = new ArrayList<>();
    assertThat(KernelCache.read(dir, key("m1"), warnings::add)).contains(kernels(110.5));
    assertThat(warnings).isEmpty();
    // another machine, version or set of shapes is another entry
    assertThat(KernelCache.entry(dir, key("m2"))).isNotEqualTo(file);
    assertThat(KernelCache.entry(dir, new KernelCache.Key("1.1", "cpu", "m1", SHAPES)))
        .isNotEqualTo(file);
    assertThat(KernelCache.read(dir, key("m2"), warnings::add)).isEmpty();
    assertThat(warnings).as("a missing entry is no warning").isEmpty();
  }

  @Test
  void aDamagedEntryIsIgnoredWithAWarningNamingIt() throws Exception {
    Path file = KernelCache.write(dir, key("m1"), kernels(110.5));
    String text = Files.readString(file);
    List<String> warnings = new ArrayList<>();

    Files.writeString(file, text.replace("110.5", "210.5"));
    assertThat(KernelCache.read(dir, key("m1"), warnings::add)).isEmpty();
    Files.writeString(file, text.substring(0, text.length() / 2));
    assertThat(KernelCache.read(dir, key("m1"), warnings::add)).isEmpty();
    Files.writeString(file, "{}");
    assertThat(KernelCache.read(dir, key("m1"), warnings::add)).isEmpty();

    assertThat(warnings)
        .hasSize(3)
        .allMatch(w -> w.startsWith("ignoring kernel cache entry " + file));
    assertThat(warnings.get(0)).contains("damaged: its SHA-256 does not match");
    assertThat(warnings.get(2)).contains("not a cria kernel cache 1 file");
  }

  @Test
  void anEntryForAnotherMachineIsIgnoredWithAWarning() throws Exception {
    Path theirs = KernelCache.write(dir, key("their machine"), kernels(120));
    Path ours = KernelCache.entry(dir, key("this machine"));
    Files.copy(theirs, ours); // copied by hand under this machine's name
    List<String> warnings = new ArrayList<>();
    assertThat(KernelCache.read(dir, key("this machine"), warnings::add)).isEmpty();
    assertThat(warnings)
        .singleElement()
        .asString()
        .contains(ours.toString())
        .contains("tuned on another machine (their machine; this is this machine)");
  }

  @Test
  void ranksWritingAndReadingAtOnceLeaveOneValidEntry() throws Exception {
    int writers = 6;
    CountDownLatch start = new CountDownLatch(1);
    List<Throwable> failures = new CopyOnWriteArrayList<>();
    List<String> warnings = new CopyOnWriteArrayList<>();
    List<Thread> threads = new ArrayList<>();
    for (int w = 0; w < writers; w++) {
      double gflops = 100 + w;
      threads.add(
          Thread.ofPlatform()
              .start(() -> {
                try {
                  start.await();
                  for (int i = 0; i < 20; i++) {
                    KernelCache.write(dir, key("m"), kernels(gflops));
                    KernelCache.read(dir, key("m"), warnings::add);
                  }
                } catch (Throwable t) {
                  failures.add(t);
                }
              }));
    }
    start.countDown();
    for (Thread t : threads) {
      t.join();
    }
    assertThat(failures).isEmpty();
    assertThat(warnings).as("a reader never sees half an entry").isEmpty();
    Optional<List<TunedKernel>> last = KernelCache.read(dir, key("m"), warnings::add);
    assertThat(last).isPresent();
    assertThat(last.get().get(0).tunedGflops()).isBetween(100.0, 100.0 + writers - 1);
    try (Stream<Path> files = Files.list(dir.resolve("kernels"))) {
      assertThat(files.toList()).as("no temporaries left").hasSize(1);
    }
  }

  @Test
  void aRunUsesAHitSaysSoAndRefusesChoicesItsBackendDoesNotKnow() throws Exception {
    try (Backend cpu = Backends.open("cpu", 1)) {
      KernelCache.Key key = KernelCache.Key.of(cpu, SHAPES);
      List<String> warnings = new ArrayList<>();
      assertThat(KernelCache.use(dir, cpu, SHAPES, warnings::add))
          .startsWith("kernel cache: none in " + dir + " for this machine and these shapes");
      Path file = KernelCache.write(dir, key, kernels(101));
      assertThat(KernelCache.use(dir, cpu, SHAPES, warnings::add))
          .isEqualTo("kernel cache: hit, 3 shapes (" + file + ")");
      assertThat(KernelCache.use(null, cpu, SHAPES, warnings::add))
          .isEqualTo("kernel cache: off (--no-compile-cache): default kernels");
      assertThat(warnings).isEmpty();

      List<TunedKernel> strange = new ArrayList<>(kernels(101));
      strange.set(1, new TunedKernel(SHAPES.get(1), "workgroup=256", 100, 101));
      KernelCache.write(dir, key, strange);
      assertThat(KernelCache.use(dir, cpu, SHAPES, warnings::add))
          .isEqualTo("kernel cache: entry ignored: default kernels");
      assertThat(warnings)
          .singleElement()
          .asString()
          .contains(file.toString())
          .contains("workgroup=256");
    }
  }

  @Test
  void theCacheSitsBesideTheRunsUnlessNamedOrOff() {
    assertThat(KernelCache.directoryFor(config("runs/cria", null, true)))
        .isEqualTo(Path.of("runs/compile-cache"));
    assertThat(KernelCache.directoryFor(config("/shared/runs/job", null, true)))
        .isEqualTo(Path.of("/shared/runs/compile-cache"));
    assertThat(KernelCache.directoryFor(config("job", null, true)))
        .isEqualTo(Path.of("").toAbsolutePath().resolve("compile-cache"));
    assertThat(KernelCache.directoryFor(config("runs/cria", "/shared/cache", true)))
        .isEqualTo(Path.of("/shared/cache"));
    assertThat(KernelCache.directoryFor(config("runs/cria", "/shared/cache", false))).isNull();
  }

  /** A config with only what the cache reads: the run directory and the trainer's keys. */
  private static TrainConfig config(String runDir, String cache, boolean use) {
    return new TrainConfig(
        runDir,
        null,
        null,
        new TrainConfig.Trainer(4, 8, 10, 1, 0, 0, 1, 0, "auto", cache, use, Precision.FP32),
        null,
        null,
        null);
  }
}
