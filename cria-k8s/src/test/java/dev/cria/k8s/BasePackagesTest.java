package dev.cria.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packages of a base image tarball ({@code docker save} format) read from the dpkg status of
 * its layers, the last layer's copy winning; the tarballs made here by {@code tar}, one layer
 * gzipped and one with a path long enough for GNU's long-name entries.
 */
class BasePackagesTest {
  @TempDir Path tmp;

  private static final String STATUS_41 =
      """
      Package: openssh-server
      Status: install ok installed
      Version: 1:9.2p1-2+deb12u3

      Package: openmpi-bin
      Status: install ok installed
      Architecture: amd64
      Version: 4.1.4-3+b1

      Package: openmpi-common
      Status: deinstall ok config-files
      Version: 4.1.4-3
      """;

  private void run(Path dir, String... command) throws Exception {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).inheritIO().start();
    assertThat(p.waitFor()).as(String.join(" ", command)).isZero();
  }

  /** A layer tarball holding {@code var/lib/dpkg/status} = {@code status}, and a long path. */
  private Path layer(String name, String status, boolean gzip) throws Exception {
    Path root = tmp.resolve(name + "-root");
    Files.createDirectories(root.resolve("var/lib/dpkg"));
    Files.writeString(root.resolve("var/lib/dpkg/status"), status);
    Path deep = root.resolve("usr/share/" + "very-long-directory-name/".repeat(6) + "file.txt");
    Files.createDirectories(deep.getParent());
    Files.writeString(deep, "x".repeat(700));
    Path out = tmp.resolve("image").resolve(name + "/layer.tar");
    Files.createDirectories(out.getParent());
    run(root, "tar", "--format=gnu", gzip ? "-czf" : "-cf", out.toString(), ".");
    return out;
  }

  private Path image(List<String> layers) throws Exception {
    Files.writeString(
        tmp.resolve("image/manifest.json"),
        "[{\"Config\":\"c.json\",\"RepoTags\":[\"t\"],\"Layers\":["
            + String.join(",", layers.stream().map(l -> "\"" + l + "\"").toList())
            + "]}]\n");
    Files.writeString(tmp.resolve("image/c.json"), "{}");
    Path tar = tmp.resolve("base.tar");
    Files.deleteIfExists(tar);
    run(tmp.resolve("image"), "tar", "-cf", tar.toString(), ".");
    return tar;
  }

  @Test
  void theInstalledVersionOfThePackageInTheLastLayerThatHasDpkgsStatus() throws Exception {
    layer("a", STATUS_41, false);
    Path one = image(List.of("a/layer.tar"));
    assertThat(BasePackages.version(one, "openmpi-bin")).contains("4.1.4-3+b1");
    assertThat(BasePackages.version(one, "openmpi-common")).isEmpty(); // config files only
    assertThat(BasePackages.version(one, "mpich")).isEmpty();
    // a later layer upgraded it (gzipped, as registries keep layers)
    layer("b", STATUS_41.replace("4.1.4-3+b1", "5.0.6-1"), true);
    Path two = image(List.of("a/layer.tar", "b/layer.tar"));
    assertThat(BasePackages.version(two, "openmpi-bin")).contains("5.0.6-1");
  }

  @Test
  void aTarballWithoutManifestOrStatusKnowsNoPackage() throws Exception {
    Files.createDirectories(tmp.resolve("image"));
    Files.writeString(tmp.resolve("image/readme"), "no image here");
    Path tar = tmp.resolve("not-an-image.tar");
    run(tmp.resolve("image"), "tar", "-cf", tar.toString(), ".");
    assertThat(BasePackages.version(tar, "openmpi-bin")).isEmpty();
  }
}
