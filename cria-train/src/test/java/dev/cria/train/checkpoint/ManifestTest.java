package dev.cria.train.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code manifest.json}: written, read back, and every malformed one refused naming the file. */
class ManifestTest {
  @TempDir Path dir;

  private String manifest(String files) {
    return "{\"format\": \"cria-checkpoint\", \"version\": 1, \"step\": 3, \"files\": {"
        + files
        + "}}";
  }

  private void assertRefused(String json, String message) throws IOException {
    Files.writeString(dir.resolve(Manifest.FILE), json);
    assertThatThrownBy(() -> Manifest.read(dir))
        .as(json)
        .isInstanceOf(CheckpointException.class)
        .hasMessage(dir.resolve(Manifest.FILE) + ": " + message);
  }

  @Test
  void aManifestReadsBackAsWrittenWithItsTotal() throws IOException {
    Map<String, Manifest.FileEntry> files = new LinkedHashMap<>();
    files.put("model.safetensors", new Manifest.FileEntry(1000, 0xDEADBEEFL));
    files.put("optimizer/rank-00000-of-00001.safetensors", new Manifest.FileEntry(24, 0x1L));
    files.put("config.yaml", new Manifest.FileEntry(0, 0L));
    new Manifest(12, files).write(dir);
    Manifest back = Manifest.read(dir);
    assertThat(back.step()).isEqualTo(12);
    assertThat(back.files()).containsExactlyEntriesOf(files);
    assertThat(back.totalBytes()).isEqualTo(1024);
    assertThat(Files.readString(dir.resolve(Manifest.FILE)))
        .contains("\"crc32c\" : \"deadbeef\"", "\"crc32c\" : \"00000001\"");
  }

  @Test
  void anotherFormatOrVersionOrAMalformedEntryIsRefusedNamingIt() throws IOException {
    assertRefused(
        manifest("\"a\": {\"bytes\": 1, \"crc32c\": \"00000001\"}")
            .replace("cria-checkpoint", "other"),
        "not a cria-checkpoint version 1 manifest");
    assertRefused(
        manifest("\"a\": {\"bytes\": 1, \"crc32c\": \"00000001\"}").replace("1,", "2,"),
        "not a cria-checkpoint version 1 manifest");
    assertRefused(
        manifest("\"a\": {\"bytes\": 1, \"crc32c\": \"0000001\"}"), "entry a is malformed");
    assertRefused(
        manifest("\"a\": {\"bytes\": 1, \"crc32c\": \"0000000G\"}"), "entry a is malformed");
    assertRefused(
        manifest("\"a\": {\"bytes\": -1, \"crc32c\": \"00000001\"}"), "entry a is malformed");
    assertRefused(
        manifest("\"../a\": {\"bytes\": 1, \"crc32c\": \"00000001\"}"), "entry ../a is malformed");
    assertRefused(
        manifest("\"a/..b\": {\"bytes\": 1, \"crc32c\": \"00000001\"}"),
        "entry a/..b is malformed");
    assertRefused(
        manifest("\"/etc/a\": {\"bytes\": 1, \"crc32c\": \"00000001\"}"),
        "entry /etc/a is malformed");
    assertRefused(manifest(""), "no step or no files");
    assertRefused(
        manifest("\"a\": {\"bytes\": 1, \"crc32c\": \"00000001\"}").replace("3,", "\"x\","),
        "no step or no files");
  }

  @Test
  void aFileOfZeroBytesIsAnEntryAndAMissingManifestIsAnUnfinishedCheckpoint() throws IOException {
    Files.writeString(
        dir.resolve(Manifest.FILE),
        manifest("\"a\": {\"crc32c\": \"00000000\"," + " \"bytes\": 0}"));
    Manifest m = Manifest.read(dir);
    assertThat(m.files()).containsEntry("a", new Manifest.FileEntry(0, 0));
    assertThat(m.problem(dir)).isEqualTo("a is missing");
    Files.writeString(dir.resolve("a"), "");
    assertThat(m.problem(dir)).isNull();

    Files.delete(dir.resolve(Manifest.FILE));
    assertThatThrownBy(() -> Manifest.read(dir))
        .isInstanceOf(CheckpointException.class)
        .hasMessage(dir.resolve(Manifest.FILE) + ": missing (the checkpoint was not finished)");
  }
}
