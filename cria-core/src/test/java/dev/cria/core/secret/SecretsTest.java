package dev.cria.core.secret;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SecretsTest {
  @TempDir Path dir;

  @Test
  void aFileGivesItsFirstLineWithoutSurroundingSpace() throws IOException {
    Path f = dir.resolve("password");
    Files.writeString(f, "  s3cret \nsecond line\n");
    Secrets.Secret s = Secrets.read(f, "CRIA_TEST_UNSET_VARIABLE");
    assertThat(s.value()).isEqualTo("s3cret");
    assertThat(s.generated()).isFalse();
    assertThat(s.toString()).doesNotContain("s3cret");
  }

  @Test
  void anEmptyOrMissingFileIsNamed() throws IOException {
    Path blank = dir.resolve("board-password");
    Files.writeString(blank, "\n");
    assertThatThrownBy(() -> Secrets.read(blank, "X"))
        .hasMessage(blank + ": the secret file is empty");
    assertThatThrownBy(() -> Secrets.read(dir.resolve("none"), "X"))
        .hasMessage(dir.resolve("none") + ": no such secret file");
  }

  @Test
  void withoutFileOrVariableOneIsMadeUpEachTime() {
    Secrets.Secret a = Secrets.read(null, "CRIA_TEST_UNSET_VARIABLE_" + System.nanoTime());
    Secrets.Secret b = Secrets.read(null, "CRIA_TEST_UNSET_VARIABLE_" + System.nanoTime());
    assertThat(a.generated()).isTrue();
    assertThat(a.value()).hasSize(20).matches("[A-Za-z2-9]+").isNotEqualTo(b.value());
  }
}
