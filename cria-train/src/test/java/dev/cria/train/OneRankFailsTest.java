package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cria.core.run.RankState;
import dev.cria.core.run.StatusFiles;
import dev.cria.engine.parallel.Collective;
import dev.cria.train.checkpoint.Checkpoint;
import dev.cria.train.checkpoint.Checkpoints;
import dev.cria.train.checkpoint.TrainStart;
import dev.cria.train.config.TrainConfig;
import dev.cria.train.config.TrainConfigFile;
import dev.cria.train.distributed.CollectiveKind;
import dev.cria.train.distributed.LoopbackRanks;
import dev.cria.train.metrics.TrainListener;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import tools.jackson.databind.node.ObjectNode;

/**
 * A failure on one rank ends the job on every rank promptly, each naming the rank that failed and
 * its error, with the earlier checkpoints intact: an exception in one rank's step, and a save that
 * fails on one rank while the others wait at the save's barrier (whose patience is 30 minutes). The
 * operation timeout is ten minutes, so only the failure's own signals can end it in time.
 */
class OneRankFailsTest {
  @TempDir Path tmp;
  private final AtomicInteger steps = new AtomicInteger(); // rank 1's

  /** What one rank ended with. */
  private record Ending(String error, double seconds) {}

  private List<Ending> train(
      CollectiveKind kind, String name, Runnable onRankOneStep, UnaryOperator<Collective> rankOne)
      throws Exception {
    Path prefix = TestRuns.dataset(tmp, 200, 199);
    ObjectNode tree = TestRuns.tree(prefix, tmp.resolve(name));
    TrainConfigFile.set(tree, "trainer.max_steps", 1000L);
    TrainConfigFile.set(tree, "trainer.limit_val_batches", 0);
    TrainConfigFile.set(tree, "trainer.threads", 1);
    TrainConfigFile.set(tree, "checkpoint.save_interval", 5L);
    TrainConfig c = TestRuns.config(tree);
    RunDirectory run = RunDirectory.create(c, true);
    return LoopbackRanks.run(
        kind,
        2,
        Duration.ofMinutes(10),
        group -> {
          Collective mine = group.rank() == 1 ? rankOne.apply(group) : group;
          long t0 = System.nanoTime();
          try (TrainingSetup setup = TrainingSetup.prepare(c, 2, line -> {})) {
            new Trainer(
                    setup,
                    run,
                    TrainListener.silent(),
                    () -> {
                      if (group.rank() == 1 && steps.incrementAndGet() == 8) {
                        onRankOneStep.run();
                      }
                      return false;
                    },
                    mine)
                .run(TrainStart.fresh());
            return new Ending(null, 0);
          } catch (RuntimeException e) {
            return new Ending(e.getMessage(), (System.nanoTime() - t0) / 1e9);
          }
        });
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void anExceptionInOneRankEndsTheOtherNamingIt(CollectiveKind kind) throws Exception {
    List<Ending> ends =
        train(
            kind,
            "thrown-" + kind,
            () -> {
              throw new IllegalStateException("an injected fault");
            },
            g -> g);
    assertThat(ends.get(1).error()).isEqualTo("an injected fault");
    assertThat(ends.get(0).error()).contains("rank 1 failed: an injected fault");
    // a liveness bound, far above an honest run: the operation timeout is 10 minutes
    assertThat(ends.get(0).seconds()).isLessThan(120);
    Path runDir = tmp.resolve("thrown-" + kind);
    assertThat(StatusFiles.read(StatusFiles.file(runDir, 1)).state()).isEqualTo(RankState.FAILED);
    assertThat(StatusFiles.read(StatusFiles.file(runDir, 0)).lastError())
        .contains("rank 1 failed: an injected fault");
    // the checkpoint of step 5 is whole
    Checkpoint.open(Checkpoints.stepDirectory(runDir, 5)).verify();
  }

  @ParameterizedTest
  @EnumSource(names = {"TCP", "SHM"})
  void aSaveThatFailsOnOneRankEndsTheOthersWaitAtItsBarrier(CollectiveKind kind) throws Exception {
    List<Ending> ends = train(kind, "full-" + kind, () -> {}, g -> new FailsInSecondSave(g, steps));
    assertThat(ends.get(1).error()).contains("No space left on device");
    assertThat(ends.get(0).error()).contains("rank 1 failed:").contains("No space left on device");
    assertThat(ends.get(0).seconds()).isLessThan(120);
    Path runDir = tmp.resolve("full-" + kind);
    // the first save is whole; the second never became a checkpoint
    Checkpoint.open(Checkpoints.stepDirectory(runDir, 5)).verify();
    assertThat(Checkpoints.stepDirectory(runDir, 10)).doesNotExist();
  }

  /**
   * Rank 1's group, whose patient barriers (a save's) fail once it has passed step 8, as a write
   * into a full file system would fail there: the save of step 10.
   */
  private static final class FailsInSecondSave implements Collective {
    private final Collective group;
    private final AtomicInteger steps;

    FailsInSecondSave(Collective group, AtomicInteger steps) {
      this.group = group;
      this.steps = steps;
    }

    @Override
    public void barrier(Duration patience) {
      if (steps.get() >= 8) {
        throw new UncheckedIOException(
            new java.io.IOException("optimizer shard: No space left on device"));
      }
      group.barrier(patience);
    }

    @Override
    public int rank() {
      return group.rank();
    }

    @Override
    public int worldSize() {
      return group.worldSize();
    }

    @Override
    public String transport() {
      return group.transport();
    }

    @Override
    public void barrier() {
      group.barrier();
    }

    @Override
    public void broadcast(MemorySegment data, long bytes, int root) {
      group.broadcast(data, bytes, root);
    }

    @Override
    public void allReduceSum(MemorySegment floats, long count) {
      group.allReduceSum(floats, count);
    }

    @Override
    public void reduceScatterSum(MemorySegment floats, long count) {
      group.reduceScatterSum(floats, count);
    }

    @Override
    public void allGather(MemorySegment floats, long count) {
      group.allGather(floats, count);
    }

    @Override
    public void abort(String reason) {
      group.abort(reason);
    }

    @Override
    public void close() {
      group.close();
    }
  }
}
