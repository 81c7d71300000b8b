package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.core.checksum.Checksums;
import dev.cria.core.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding, checking and tidying checkpoints, on directories made by hand. */
class CheckpointsTest {
  @TempDir Path run;

  /** A whole checkpoint of {@code step} with two small files and its manifest. */
  private Path checkpoint(long step) throws IOException {
    Path dir = Checkpoints.stepDirectory(run, step);
    Files.createDirectories(dir.resolve("optimizer"));
    Files.writeString(dir.resolve("a.bin"), "model " + step);
    Files.writeString(dir.resolve("optimizer/b.bin"), "moments " + step);
    Files.writeString(
        dir.resolve(TrainingState.FILE),
        """
        {"step": %d, "consumed_samples": %d, "optimizer_steps": %d, "world_size": 1}
        """
            .formatted(step, 4 * step, step));
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
    for (String name : List.of("a.bin", "optimizer/b.bin", TrainingState.FILE)) {
      Path f = dir.resolve(name);
      files.put(name, new Manifest.FileEntry(Files.size(f), Checksums.crc32c(f)));
    }
    new Manifest(step, files).write(dir);
    return dir;
  }

  @Test
  void theNewestWholeCheckpointIsChosenAndEachDamagedOneNamed() throws IOException {
    checkpoint(10);
    checkpoint(20);
    Path latest = checkpoint(30);
    Files.write(
        latest.resolve(Manifest.FILE), new byte[] {(byte) 0xC3, 0x28, '{'}); // not UTF-8, not JSON
    Path truncated = Checkpoints.stepDirectory(run, 20).resolve("optimizer/b.bin");
    Files.writeString(truncated, "moments");
    List<String> reports = new ArrayList<>();
    Checkpoint chosen = Checkpoints.newestValid(run, reports::add).orElseThrow();
    assertThat(chosen.step()).isEqualTo(10);
    assertThat(chosen.state().consumedSamples()).isEqualTo(40);
    assertThat(reports).hasSize(2);
    assertThat(reports.get(0))
        .contains("step-30 is not usable", "manifest.json", "not valid JSON", "trying step-20");
    assertThat(reports.get(1))
        .contains("step-20 is not usable", "optimizer/b.bin has 7 bytes, the manifest says 10");
  }

  @Test
  void ranksCheckDisjointSharesThatTogetherCoverEveryFile() throws IOException {
    Path dir = checkpoint(5);
    Manifest m = Manifest.read(dir);
    Files.writeString(dir.resolve("optimizer/b.bin"), "moments 6"); // same size, other bytes
    assertThat(m.problem(dir)).contains("optimizer/b.bin has checksum");
    assertThat(m.problem(dir, 0, 2)).isNull(); // a.bin and trainer_state.json
    assertThat(m.problem(dir, 1, 2)).contains("optimizer/b.bin");
    assertThat(m.problem(dir, 2, 3)).isNull();
  }

  @Test
  void leftoversAreRemovedAndAReplacedStepIsPutBackWhenItsNewCopyNeverArrived() throws IOException {
    checkpoint(10);
    Path dir = Checkpoints.directory(run);
    Files.createDirectories(dir.resolve(".step-20.partial/optimizer"));
    Files.createDirectories(dir.resolve(".deleting-step-5"));
    Files.move(checkpoint(30), dir.resolve(".replaced-step-30")); // crash between the two renames
    checkpoint(40);
    Files.createDirectories(
        dir.resolve(".replaced-step-40")); // the new copy arrived: the old one goes
    Checkpoints.removeLeftovers(run);
    try (var names = Files.list(dir)) {
      assertThat(names.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("step-10", "step-30", "step-40");
    }
    assertThat(Checkpoint.open(Checkpoints.stepDirectory(run, 30)).verify().step()).isEqualTo(30);

    assertThat(Checkpoints.setAsideAfter(run, 10))
        .extracting(p -> p.getFileName().toString())
        .containsExactly("abandoned-step-30", "abandoned-step-40");
    assertThat(Checkpoints.list(run)).extracting(Checkpoints::stepOf).containsExactly(10L);
    assertThatThrownBy(() -> Checkpoints.candidates(run.resolve("elsewhere")))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("neither a checkpoint");
  }

  @Test
  void theSavedConfigIsTheCheckpointsOwnOrTheNewestStepsThatHasOne() throws IOException {
    Path ten = checkpoint(10);
    Path twenty = checkpoint(20);
    Files.writeString(ten.resolve(Checkpoint.CONFIG), "a: 1\n");
    assertThat(Checkpoints.savedConfig(twenty)).contains(twenty.resolve(Checkpoint.CONFIG));
    assertThat(Checkpoints.savedConfig(run)).contains(ten.resolve(Checkpoint.CONFIG));
    Files.writeString(twenty.resolve(Checkpoint.CONFIG), "a: 2\n");
    assertThat(Checkpoints.savedConfig(run)).contains(twenty.resolve(Checkpoint.CONFIG));
    assertThat(Checkpoints.savedConfig(run.resolve("elsewhere"))).isEmpty();
  }

  @Test
  void candidatesAreTheCheckpointItselfOrTheRunsNewestFirst() throws IOException {
    Path ten = checkpoint(10);
    Path nine = checkpoint(9);
    assertThat(Checkpoints.candidates(ten)).containsExactly(ten);
    assertThat(Checkpoints.candidates(run)).containsExactly(ten, nine);
    Path fresh = run.resolve("fresh");
    Files.createDirectories(fresh);
    Files.writeString(fresh.resolve("config.yaml"), "x: 1\n");
    assertThat(Checkpoints.candidates(fresh)).isEmpty();
  }

  @Test
  void resolveChecksANamedCheckpointOrFindsTheRunsNewestValidOne() throws IOException {
    checkpoint(10);
    Path twenty = checkpoint(20);
    List<String> reports = new ArrayList<>();
    assertThat(Checkpoints.resolve(run, reports::add).step()).isEqualTo(20);
    assertThat(Checkpoints.resolve(Checkpoints.stepDirectory(run, 10), reports::add).dir())
        .isEqualTo(Checkpoints.stepDirectory(run, 10));
    Files.writeString(twenty.resolve("a.bin"), "damaged");
    assertThatThrownBy(() -> Checkpoints.resolve(twenty, reports::add))
        .isInstanceOf(CheckpointException.class)
        .hasMessageContaining("a.bin has 7 bytes, the manifest says 8");
    assertThat(reports).isEmpty();
    assertThat(Checkpoints.resolve(run, reports::add).step()).isEqualTo(10);
    assertThat(reports).singleElement().asString().endsWith("; trying step-10");
    Files.writeString(Checkpoints.stepDirectory(run, 10).resolve("a.bin"), "damaged");
    reports.clear();
    assertThatThrownBy(() -> Checkpoints.resolve(run, reports::add))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(run + ": no usable checkpoint in " + Checkpoints.directory(run));
    assertThat(reports).hasSize(2);
    assertThat(reports.get(1)).doesNotContain("trying");
    assertThatThrownBy(() -> Checkpoints.resolve(run.resolve("elsewhere"), reports::add))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(
            run.resolve("elsewhere")
                + ": neither a checkpoint (manifest.json) nor a run directory with checkpoints/");
  }

  @Test
  void aTrainedModelIsReadFromACheckpointWhoseOptimizerStateIsGone() throws IOException {
    Path ten = checkpoint(10);
    Path twenty = checkpoint(20);
    AtomicFiles.deleteTree(twenty.resolve("optimizer"));
    Files.writeString(ten.resolve("optimizer/b.bin"), "damaged");
    List<String> reports = new ArrayList<>();
    assertThat(Checkpoints.resolve(run, reports::add).step()).isEqualTo(20);
    assertThat(Checkpoints.resolve(ten, reports::add).step()).isEqualTo(10);
    assertThat(reports).isEmpty();
    // a resume needs the moments: there the checkpoint is damaged
    assertThatThrownBy(() -> Checkpoint.open(twenty).verify())
        .isInstanceOf(CheckpointException.class)
        .hasMessage(twenty + " is damaged: optimizer/b.bin is missing");
    assertThat(Checkpoints.newestValid(run, reports::add)).isEmpty();
    Files.writeString(twenty.resolve("a.bin"), "damaged");
    assertThatThrownBy(() -> Checkpoints.resolve(twenty, reports::add))
        .hasMessageContaining("a.bin has 7 bytes, the manifest says 8");
  }

  @Test
  void aCheckpointWhoseManifestIsForAnotherStepIsPassedOver() throws IOException {
    checkpoint(10);
    Path twenty = checkpoint(20);
    Files.move(twenty, Checkpoints.stepDirectory(run, 25));
    List<String> reports = new ArrayList<>();
    assertThat(Checkpoints.newestValid(run, reports::add).orElseThrow().step()).isEqualTo(10);
    assertThat(reports)
        .containsExactly(
            "checkpoint "
                + Checkpoints.stepDirectory(run, 25)
                + " is not usable: "
                + Checkpoints.stepDirectory(run, 25)
                + ": its manifest is for step 20; trying step-10");
  }

  @Test
  void aProblemWithoutAMessageIsDescribedByItsType() {
    assertThat(Checkpoints.describe(new IOException("disk gone"))).isEqualTo("disk gone");
    assertThat(Checkpoints.describe(new IllegalStateException()))
        .isEqualTo("java.lang.IllegalStateException");
    assertThat(Checkpoints.describe(new IllegalStateException("  ")))
        .isEqualTo("java.lang.IllegalStateException:   ");
  }

  @Test
  void stepDirectoriesAreListedInStepOrderAndOtherNamesIgnored() throws IOException {
    checkpoint(100);
    checkpoint(9);
    Files.createDirectories(Checkpoints.directory(run).resolve("step-x"));
    Files.createDirectories(Checkpoints.directory(run).resolve("abandoned-step-5"));
    Files.writeString(Checkpoints.directory(run).resolve("step-7"), "a file");
    assertThat(Checkpoints.list(run))
        .containsExactly(Checkpoints.stepDirectory(run, 9), Checkpoints.stepDirectory(run, 100));
    assertThat(Checkpoints.list(run.resolve("elsewhere"))).isEmpty();
    assertThatThrownBy(() -> Checkpoints.stepOf(Path.of("abandoned-step-5")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("abandoned-step-5 is not a step-<N> directory");
  }

  @Test
  void pruningRemovesTheOldestCompletelyAndSettingAsideKeepsAnEarlierAbandonedCopy()
      throws IOException {
    checkpoint(1);
    checkpoint(2);
    checkpoint(3);
    assertThat(Checkpoints.prune(run, 3)).isEmpty();
    assertThat(Checkpoints.prune(run, 1))
        .containsExactly(Checkpoints.stepDirectory(run, 1), Checkpoints.stepDirectory(run, 2));
    try (var names = Files.list(Checkpoints.directory(run))) {
      assertThat(names.map(p -> p.getFileName().toString())).containsExactly("step-3");
    }
    // one set aside by an earlier try is kept, the new one takes the next free name
    Path old = Checkpoints.directory(run).resolve("abandoned-step-3");
    Files.createDirectories(old.resolve("earlier"));
    Files.createDirectories(Checkpoints.directory(run).resolve("abandoned-step-3.2"));
    Path next = Checkpoints.directory(run).resolve("abandoned-step-3.3");
    assertThat(Checkpoints.setAsideAfter(run, 2)).containsExactly(next);
    assertThat(old.resolve("earlier")).isDirectory();
    assertThat(Checkpoint.open(next).verify().step()).isEqualTo(3);
    Checkpoints.removeLeftovers(run.resolve("elsewhere")); // nothing to do, no error
  }
}
