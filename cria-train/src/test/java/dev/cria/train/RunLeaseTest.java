package dev.cria.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cria.train.config.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunLeaseTest {
  @TempDir Path tmp;

  @Test
  void aRunDirectoryIsCreatedAndAFileInItsPlaceIsRefusedByName() throws IOException {
    Path run = tmp.resolve("a/run");
    try (RunLease lease = RunLease.acquire(run, line -> {})) {
      assertThat(run).isDirectory();
    }
    Path file = Files.writeString(tmp.resolve("a-file"), "mine");
    assertThatThrownBy(() -> RunLease.acquire(file, line -> {}))
        .isInstanceOf(ConfigException.class)
        .hasMessage("run_dir " + file + " is a file, not a directory");
    assertThat(Files.readString(file)).isEqualTo("mine");
  }
}
