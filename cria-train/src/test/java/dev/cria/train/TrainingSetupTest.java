package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingSetupTest {
  @Test
  void allCoresAreSharedAmongTheRanksMpirunStartedOnTheHost() {
    int cores = Runtime.getRuntime().availableProcessors();
    assertThat(TrainingSetup.threadsFor(3, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "8"))).isEqualTo(3);
    assertThat(TrainingSetup.threadsFor(0, Map.of())).isZero(); // the backend takes every core
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "1"))).isZero();
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "2")))
        .isEqualTo(Math.max(1, cores / 2));
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "1000")))
        .isEqualTo(1);
    assertThat(TrainingSetup.threadsFor(0, Map.of("OMPI_COMM_WORLD_LOCAL_SIZE", "x"))).isZero();
    // cria train --nproc's workers share the cores too
    assertThat(TrainingSetup.threadsFor(0, Map.of("CRIA_LOCAL_WORLD_SIZE", "2")))
        .isEqualTo(Math.max(1, cores / 2));
  }

  @Test
  void aDataPrefixThatNamesNoDatasetIsToldWhatItMostLikelyMeant(@TempDir Path tmp)
      throws IOException {
    Path brown = tmp.resolve("brown");
    assertThat(TrainingSetup.prefixHint(brown)).isEqualTo(" (make it with cria prepare)");
    // relative: an older run's saved config read from another directory, most likely
    assertThat(TrainingSetup.prefixHint(Path.of("no-such-dir/brown_text_document")))
        .isEqualTo(
            " (a relative path, read from "
                + Path.of("").toAbsolutePath()
                + ": run from the directory it is relative to, give --data-prefix, or make it"
                + " with cria prepare)");
    for (String f :
        List.of("brown_text_document.idx", "brown_text_document.bin", "brown_title_document.idx")) {
      Files.writeString(tmp.resolve(f), "");
    }
    assertThat(TrainingSetup.prefixHint(brown))
        .isEqualTo(
            " (cria prepare --output-prefix "
                + brown
                + " writes brown_text_document, brown_title_document: the data prefix is "
                + tmp.resolve("brown_text_document")
                + ")");
    Path doc = tmp.resolve("brown_text_document");
    assertThat(TrainingSetup.prefixHint(Path.of(doc + ".bin")))
        .isEqualTo(" (a data prefix names a dataset without its extension: " + doc + ")");
    assertThat(TrainingSetup.prefixHint(Path.of(doc + ".idx")))
        .isEqualTo(" (a data prefix names a dataset without its extension: " + doc + ")");
  }
}
