package dev.cria.cli.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cria.cli.CliRun;
import dev.cria.cli.train.SmallCorpus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code cria image build}: reproducible OCI images, whose contents run cria; on a base made from
 * Debian's packages by {@code tools/make-base-image.sh} (as root, with debootstrap and Debian's
 * mirror), cria and {@code mpirun ... cria worker} run inside the unpacked image under chroot.
 */
class ImageCommandTest {
  @TempDir Path tmp;

  private static String digest(CliRun run) {
    Matcher m = Pattern.compile("\\((sha256:[0-9a-f]{64})\\)").matcher(run.out());
    assertThat(m.find()).as(run.out() + run.err()).isTrue();
    return m.group(1);
  }

  private CliRun build(String base, Path output, Path cache) {
    return CliRun.of(
        "image",
        "build",
        "--base",
        base,
        "--tag",
        "registry.local/cria:test",
        "--output",
        output.toString(),
        "--cache",
        cache.toString());
  }

  @Test
  void theSameInputsGiveTheSameImageAndItsRuntimeRunsCria() throws Exception {
    CliRun first = build("scratch", tmp.resolve("a.tar"), tmp.resolve("cache-a"));
    assertThat(first.exitCode()).as(first.err()).isZero();
    assertThat(first.out())
        .contains(
            "java runtime",
            "jlink: 13 modules",
            "launcher /usr/local/bin/cria",
            "written to " + tmp.resolve("a.tar"));
    // a second build with its own cache links the runtime again: still the same bytes
    CliRun second = build("scratch", tmp.resolve("b.tar"), tmp.resolve("cache-b"));
    assertThat(second.exitCode()).as(second.err()).isZero();
    assertThat(digest(second)).isEqualTo(digest(first));
    assertThat(Files.mismatch(tmp.resolve("a.tar"), tmp.resolve("b.tar"))).isEqualTo(-1);

    Path root = unpack(tmp.resolve("a.tar"), tmp.resolve("rootfs"));
    String launcher = Files.readString(root.resolve("usr/local/bin/cria"));
    assertThat(launcher).startsWith("#!/bin/sh\n").contains("exec /opt/cria/java/bin/java");
    assertThat(Files.isExecutable(root.resolve("usr/local/bin/cria"))).isTrue();
    // the image's runtime and class path, run from here (a scratch image has no shell to chroot)
    Matcher cp = Pattern.compile("-cp '([^']*)'").matcher(launcher);
    assertThat(cp.find()).isTrue();
    List<String> entries = new ArrayList<>();
    for (String e : cp.group(1).split(":")) {
      entries.add(root.resolve(e.substring(1)).toString());
    }
    Process p =
        new ProcessBuilder(
                root.resolve("opt/cria/java/bin/java").toString(),
                "--add-modules",
                "jdk.incubator.vector",
                "-cp",
                String.join(":", entries),
                "dev.cria.cli.Main",
                "--version")
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(out).contains("cria ", "Java 25");
    Process modules =
        new ProcessBuilder(root.resolve("opt/cria/java/bin/java").toString(), "--list-modules")
            .redirectErrorStream(true)
            .start();
    String list = new String(modules.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(list)
        .contains("jdk.incubator.vector", "jdk.httpserver", "java.net.http")
        .doesNotContain("java.desktop");
  }

  @Test
  void aBaseFromDebiansPackagesRunsCriaAndMpirunInsideTheImage() throws Exception {
    Path script = CliRun.repositoryRoot().resolve("tools/make-base-image.sh");
    assumeTrue(
        "0".equals(run(List.of("id", "-u")).strip()), "skipped: needs root (debootstrap, chroot)");
    assumeTrue(
        Files.isExecutable(Path.of("/usr/sbin/debootstrap")),
        "skipped: debootstrap is absent (apt-get install debootstrap)");
    Path base = tmp.resolve("base.tar");
    Process make =
        new ProcessBuilder(script.toString(), base.toString()).redirectErrorStream(true).start();
    String made = new String(make.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assumeTrue(
        make.waitFor(15, TimeUnit.MINUTES) && make.exitValue() == 0,
        "skipped: tools/make-base-image.sh could not make a base (no Debian mirror?): " + made);

    CliRun built = build("tar:" + base, tmp.resolve("image.tar"), tmp.resolve("cache"));
    assertThat(built.exitCode()).as(built.err()).isZero();
    Path root = unpack(tmp.resolve("image.tar"), tmp.resolve("rootfs"));
    assertThat(root.resolve("usr/bin/mpirun")).exists();
    assertThat(root.resolve("usr/sbin/sshd")).exists();

    // the same tiny run here, for its losses
    SmallCorpus here = SmallCorpus.prepareIn(tmp.resolve("here"));
    Files.createDirectories(root.resolve("data"));
    for (Path f :
        List.of(
            here.prefix().resolveSibling("brown_text_document.bin"),
            here.prefix().resolveSibling("brown_text_document.idx"))) {
      Files.copy(f, root.resolve("data").resolve(f.getFileName()));
    }
    copyTree(here.tokenizer(), root.resolve("data/tok"));
    String trainArgs =
        " --tokenizer /data/tok --data-prefix /data/brown_text_document --hidden-size 32"
            + " --layers 2 --heads 2 --max-seq-len 32 --seq-len 32 --micro-batch 2"
            + " --global-batch 4 --max-steps 3 --warmup-steps 1 --split 98,2,0 --threads 1";
    String inside =
        run(
            List.of(
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "sh",
                "-c",
                "mount -t proc proc "
                    + root
                    + "/proc && mount -t tmpfs tmpfs "
                    + root
                    + "/tmp"
                    + " && mount -t tmpfs tmpfs "
                    + root
                    + "/dev/shm && chroot "
                    + root
                    + " sh -c 'ssh-keygen -A -q; /usr/sbin/sshd -t && echo sshd-config-ok"
                    + " && cria --version && mpirun --allow-run-as-root -np 2 -bind-to none"
                    + " --mca btl self,tcp cria worker --run-dir /data/run"
                    + trainArgs
                    + "'"));
    assertThat(inside).contains("sshd-config-ok", "cria 0.1.0", "done: 3 step(s)");
    List<String> args =
        new ArrayList<>(List.of("train", "--run-dir", tmp.resolve("here-run").toString()));
    for (String a : trainArgs.strip().split(" ")) {
      args.add(
          a.replace("/data/tok", here.tokenizer().toString())
              .replace("/data/brown_text_document", here.prefix().toString()));
    }
    CliRun local = CliRun.of(args.toArray(String[]::new));
    assertThat(local.exitCode()).as(local.err()).isZero();
    assertThat(SmallCorpus.finalLoss(inside))
        .isCloseTo(SmallCorpus.finalLoss(local.out()), org.assertj.core.data.Offset.offset(1e-3));
  }

  /** The image's layers, in order, extracted into {@code root}. */
  static Path unpack(Path ociTar, Path root) throws Exception {
    Path oci = root.resolveSibling(root.getFileName() + "-oci");
    Files.createDirectories(oci);
    Files.createDirectories(root);
    run(List.of("tar", "-xf", ociTar.toString(), "-C", oci.toString()));
    assertThat(oci.resolve("oci-layout")).exists();
    JsonMapper json = JsonMapper.builder().build();
    JsonNode index = json.readTree(oci.resolve("index.json").toFile());
    JsonNode manifest = json.readTree(blob(oci, index.path("manifests").get(0)).toFile());
    for (JsonNode layer : manifest.path("layers")) {
      run(
          List.of(
              "tar",
              "--warning=no-unknown-keyword",
              "-xf",
              blob(oci, layer).toString(),
              "-C",
              root.toString()));
    }
    return root;
  }

  private static Path blob(Path oci, JsonNode descriptor) {
    return oci.resolve("blobs/sha256").resolve(descriptor.path("digest").asString().substring(7));
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> files = Files.walk(from)) {
      for (Path f : files.toList()) {
        Path target = to.resolve(from.relativize(f).toString());
        if (Files.isDirectory(f)) {
          Files.createDirectories(target);
        } else {
          Files.copy(f, target);
        }
      }
    }
  }

  private static String run(List<String> cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(10, TimeUnit.MINUTES)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isZero();
    return out;
  }
}
