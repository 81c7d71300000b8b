package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cria image build --output} replaces an earlier image tarball and nothing else. */
class ImageBuildOutputTest {
  @TempDir Path dir;

  private ImageBuild.Request to(Path output) {
    return new ImageBuild.Request("scratch", "cria:1", output, null, false, List.of(), "M", dir);
  }

  private Path tar(String name, String... members) throws Exception {
    Path content = Files.createDirectories(dir.resolve("content-" + name));
    for (String m : members) {
      Files.writeString(content.resolve(m), "{}");
    }
    Path tar = dir.resolve(name);
    List<String> command = new java.util.ArrayList<>(List.of("tar", "-cf", tar.toString(), "-C"));
    command.add(content.toString());
    command.addAll(List.of(members));
    assertThat(new ProcessBuilder(command).inheritIO().start().waitFor()).isZero();
    return tar;
  }

  @Test
  void anEarlierImageTarballIsReplacedAndAnyOtherFileLeftAlone() throws Exception {
    to(dir.resolve("new.tar")); // nothing there yet
    to(tar("oci.tar", "oci-layout", "index.json"));
    to(tar("docker.tar", "manifest.json"));
    Path notes = dir.resolve("notes.txt");
    Files.writeString(notes, "the user's notes\n");
    Path other = tar("other.tar", "a.json");
    for (Path kept : List.of(notes, other)) {
      byte[] before = Files.readAllBytes(kept);
      assertThatThrownBy(() -> to(kept))
          .isInstanceOf(K8sException.class)
          .hasMessage(
              "--output "
                  + kept
                  + " exists and is not an image tarball: give another path (an earlier image"
                  + " tarball is replaced, any other file is left alone)");
      assertThat(Files.readAllBytes(kept)).isEqualTo(before);
    }
    assertThatThrownBy(() -> to(dir)).hasMessageContaining("is a directory");
    assertThatThrownBy(() -> to(Path.of(""))).hasMessageStartingWith("--output is empty");
  }

  @Test
  void aBaseTarballAndACacheOfTheWrongKindAreRefusedBeforeBuilding() throws Exception {
    Path notATar = dir.resolve("base.tar");
    Files.writeString(notATar, "not a tar");
    Path out = dir.resolve("out.tar");
    assertThatThrownBy(() ->
            new ImageBuild.Request(
                "tar:" + notATar, "cria:1", out, null, false, List.of(), "M", dir))
        .isInstanceOf(K8sException.class)
        .hasMessage(
            "--base tar:"
                + notATar
                + " is not an image tarball: an uncompressed tar with manifest.json, index.json or"
                + " oci-layout at its top, as docker save, podman save and"
                + " tools/make-base-image.sh write");
    assertThatThrownBy(() ->
            new ImageBuild.Request(
                "tar:" + dir.resolve("none.tar"), "cria:1", out, null, false, List.of(), "M", dir))
        .hasMessageEndingWith("none.tar: no such image tarball");
    Path docker = tar("docker.tar", "manifest.json");
    new ImageBuild.Request("tar:" + docker, "cria:1", out, null, false, List.of(), "M", dir);
    assertThatThrownBy(() ->
            new ImageBuild.Request("scratch", "cria:1", out, null, false, List.of(), "M", notATar))
        .hasMessageStartingWith("--cache " + notATar + " is a file: give a directory");
    assertThat(out).doesNotExist();
  }

  @Test
  void anImageNameARegistryWouldNotTakeIsRefusedNamingItsFlag() {
    assertThatThrownBy(() ->
            new ImageBuild.Request(
                "scratch", "UPPER CASE:!!", dir.resolve("x.tar"), null, false, List.of(), "M", dir))
        .hasMessageStartingWith("--tag 'UPPER CASE:!!': not an image reference");
    assertThatThrownBy(() ->
            new ImageBuild.Request(
                "scratch", "a b", null, "localhost:5000/a b", false, List.of(), "M", dir))
        .hasMessageStartingWith("--push 'localhost:5000/a b': not an image reference");
  }

  @Test
  void aShortOrDamagedTarIsNotAnImageTarball() throws IOException {
    Path cut = dir.resolve("cut.tar");
    Files.write(cut, new byte[100]);
    assertThat(ImageBuild.isImageTarball(cut)).isFalse();
    assertThat(ImageBuild.isImageTarball(dir.resolve("absent.tar"))).isFalse();
  }
}
