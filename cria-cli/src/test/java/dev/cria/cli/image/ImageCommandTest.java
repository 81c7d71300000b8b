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
  void pushesToARegistryTheImageItWouldWrite() throws Exception {
    Path registry = Path.of("/usr/bin/docker-registry");
    assumeTrue(
        Files.isExecutable(registry),
        "skipped: Debian's docker-registry is absent (apt-get install docker-registry)");
    int port;
    try (java.net.ServerSocket s =
        new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Path config = tmp.resolve("registry.yml");
    Files.writeString(
        config,
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "
            + tmp.resolve("registry")
            + "\nhttp:\n  addr: 127.0.0.1:"
            + port
            + "\n");
    Process server =
        new ProcessBuilder(registry.toString(), "serve", config.toString())
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("registry.log").toFile())
            .start();
    try {
      java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
      String base = "http://127.0.0.1:" + port + "/v2/";
      for (int i = 0; ; i++) {
        try {
          if (http.send(
                      java.net.http.HttpRequest.newBuilder(java.net.URI.create(base)).build(),
                      java.net.http.HttpResponse.BodyHandlers.discarding())
                  .statusCode()
              == 200) {
            break;
          }
        } catch (IOException notYet) {
          assertThat(i).as("the registry answers").isLessThan(100);
        }
        Thread.sleep(100);
      }
      String ref = "127.0.0.1:" + port + "/cria:test";
      CliRun pushed =
          CliRun.of(
              "image",
              "build",
              "--base",
              "scratch",
              "--tag",
              ref,
              "--push",
              ref,
              "--insecure-registry",
              "--cache",
              tmp.resolve("cache").toString());
      assertThat(pushed.exitCode()).as(pushed.err()).isZero();
      assertThat(pushed.out()).contains("pushed to " + ref);
      var manifest =
          http.send(
              java.net.http.HttpRequest.newBuilder(
                      java.net.URI.create(base + "cria/manifests/test"))
                  .header("Accept", "application/vnd.oci.image.manifest.v1+json")
                  .build(),
              java.net.http.HttpResponse.BodyHandlers.ofString());
      assertThat(manifest.statusCode()).isEqualTo(200);
      assertThat(manifest.headers().firstValue("Docker-Content-Digest")).contains(digest(pushed));
      // the same image as the tarball of the same name
      CliRun named =
          CliRun.of(
              "image",
              "build",
              "--base",
              "scratch",
              "--tag",
              ref,
              "--output",
              tmp.resolve("named.tar").toString(),
              "--cache",
              tmp.resolve("cache").toString());
      assertThat(digest(named)).isEqualTo(digest(pushed));
    } finally {
      server.destroy();
      server.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** Where .ci/run names the base image it made with tools/make-base-image.sh. */
  static final String BASE_IMAGE = "CRIA_TEST_BASE_IMAGE";

  @Test
  void aBaseFromDebiansPackagesRunsCriaAndMpirunInsideTheImage() throws Exception {
    assumeTrue(
        "0".equals(run(List.of("id", "-u")).strip()), "skipped: needs root (chroot, unshare)");
    // the base is made before the tests (.ci/run), so that a failure to make it is a failure of
    // its own, never a skip here
    String given = System.getenv(BASE_IMAGE);
    assumeTrue(
        given != null,
        "skipped: no base image: set "
            + BASE_IMAGE
            + " to a tarball that tools/make-base-image.sh made (.ci/run does)");
    Path base = Path.of(given);
    assertThat(base).as(BASE_IMAGE + " names a base image that is not there").isRegularFile();

    CliRun built = build("tar:" + base, tmp.resolve("image.tar"), tmp.resolve("cache"));
    assertThat(built.exitCode()).as(built.err()).isZero();
    Path root = unpack(tmp.resolve("image.tar"), tmp.resolve("rootfs"));
    assertThat(root.resolve("usr/bin/mpirun")).exists();
    assertThat(root.resolve("usr/sbin/sshd")).exists();
    // the image says which Open MPI it carries: what dpkg in the image says is installed
    String openMpi =
        run(List.of("chroot", root.toString(), "dpkg-query", "-W", "-f=${Version}", "openmpi-bin"))
            .strip();
    assertThat(openMpi).startsWith("4.");
    assertThat(built.err() + built.out())
        .contains("base: Open MPI " + openMpi + " (Debian's openmpi-bin)");
    JsonMapper json = JsonMapper.builder().build();
    Path oci = root.resolveSibling("rootfs-oci");
    JsonNode index = json.readTree(oci.resolve("index.json").toFile());
    JsonNode manifest = json.readTree(blob(oci, index.path("manifests").get(0)).toFile());
    JsonNode imageConfig = json.readTree(blob(oci, manifest.path("config")).toFile());
    assertThat(imageConfig.path("config").path("Labels").path("dev.cria.openmpi").asString())
        .isEqualTo(openMpi);

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
                    + " && cria --version && CRIA_JOB_SECRET=0123456789abcdef0123456789abcdef"
                    + " mpirun --allow-run-as-root -np 2 -bind-to none -x CRIA_JOB_SECRET"
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

    // The launcher command cria k8s render writes, run verbatim in the image as the MPI Operator
    // would run it: its hostfile, its environment, two worker hosts with sshd (in a network
    // namespace of their own, 127.0.0.2 and .3), the run's config where the ConfigMap goes.
    Path shared = root.resolve("shared/data");
    Files.createDirectories(shared);
    for (String f : List.of("brown_text_document.bin", "brown_text_document.idx")) {
      Files.copy(root.resolve("data").resolve(f), shared.resolve(f));
    }
    copyTree(root.resolve("data/tok"), shared.resolve("tok"));
    List<String> render =
        new ArrayList<>(
            List.of(
                "k8s",
                "render",
                "train",
                "--job",
                "brown-tiny",
                "--namespace",
                "default",
                "--image",
                "registry.local/cria:test",
                "--workers",
                "2",
                "--shared-pvc",
                "shared"));
    for (String a : trainArgs.strip().split(" ")) {
      render.add(a.replace("/data/", "/shared/data/"));
    }
    CliRun rendered = CliRun.of(render.toArray(String[]::new));
    assertThat(rendered.exitCode()).as(rendered.err()).isZero();
    String config = null;
    String launcher = null;
    tools.jackson.dataformat.yaml.YAMLMapper yaml =
        tools.jackson.dataformat.yaml.YAMLMapper.builder().build();
    for (String doc : rendered.out().split("(?m)^---$")) {
      if (doc.isBlank() || doc.strip().startsWith("#") && !doc.contains("kind:")) {
        continue;
      }
      JsonNode o = yaml.readTree(doc);
      if (o.path("kind").asString().equals("ConfigMap")) {
        config = o.path("data").path("config.yaml").asString();
      } else if (o.path("kind").asString().equals("MPIJob")) {
        launcher =
            o.at("/spec/mpiReplicaSpecs/Launcher/template/spec/containers/0/command/2").asString();
      }
    }
    assertThat(config).contains("run_dir: /shared/cria/runs/brown-tiny");
    assertThat(launcher).startsWith("cria k8s wait-workers");
    Files.createDirectories(root.resolve("etc/cria"));
    Files.writeString(root.resolve("etc/cria/config.yaml"), config);
    // where the job secret's Secret is mounted; the launcher passes the file's name to the ranks
    assertThat(launcher).contains("-x CRIA_JOB_SECRET_FILE=/etc/cria-job/secret");
    Files.createDirectories(root.resolve("etc/cria-job"));
    Files.writeString(root.resolve("etc/cria-job/secret"), "f00d".repeat(16));
    Files.createDirectories(root.resolve("etc/mpi"));
    Files.writeString(
        root.resolve("etc/mpi/hostfile"),
        "brown-tiny-worker-0.brown-tiny.default.svc slots=1\n"
            + "brown-tiny-worker-1.brown-tiny.default.svc slots=1\n");
    Files.writeString(
        root.resolve("etc/hosts"),
        "127.0.0.1 localhost\n127.0.0.2 brown-tiny-worker-0.brown-tiny.default.svc\n"
            + "127.0.0.3 brown-tiny-worker-1.brown-tiny.default.svc\n");
    Path pod = tmp.resolve("pod.sh");
    Files.writeString(
        pod,
        String.join(
            "\n",
            "set -e",
            "ip link set lo up",
            "mount -t proc proc " + root + "/proc",
            "mount -t tmpfs tmpfs " + root + "/tmp",
            "mount -t tmpfs tmpfs " + root + "/dev/shm",
            "chroot " + root + " sh -c '",
            "  set -e; mkdir -p /root/.ssh",
            "  [ -f /root/.ssh/id_ed25519 ] || ssh-keygen -q -t ed25519 -N \"\" -f /root/.ssh/id_ed25519",
            "  cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys",
            "  printf \"StrictHostKeyChecking no\\nUserKnownHostsFile /dev/null\\nLogLevel ERROR\\n\""
                + " > /root/.ssh/config",
            "  chmod 700 /root/.ssh; chmod 600 /root/.ssh/*",
            "  ssh-keygen -A -q; /usr/sbin/sshd",
            "'",
            // the launcher's environment as the MPI Operator (v2) sets it for Open MPI
            "exec chroot "
                + root
                + " env OMPI_MCA_orte_default_hostfile=/etc/mpi/hostfile"
                + " OMPI_MCA_orte_keep_fqdn_hostnames=true"
                + " OMPI_MCA_plm_rsh_args='-o ConnectionAttempts=10'"
                + " OMPI_MCA_orte_set_default_slots=1"
                // these pods talk over loopback (127.0.0.2 and .3), which Open MPI's TCP
                // transport leaves out unless told; real pods have their own interface
                + " OMPI_MCA_btl_tcp_if_include=lo"
                // without sysfs in the chroot hwloc's topology is odd, and orted's placing of it
                // in shared memory crashed once (hwloc_shmem_topology_write); binding is off
                // (-bind-to none), so the test leaves that component out
                + " OMPI_MCA_rtc=^hwloc"
                + " K_MPI_JOB_ROLE=launcher /bin/sh -c \"$1\"",
            ""));
    String launched =
        run(
            List.of(
                "unshare", "--mount", "--pid", "--net", "--fork", "sh", pod.toString(), launcher));
    assertThat(launched).contains("wait-workers: all 2 worker(s) reachable", "done: 3 step(s)");
    assertThat(SmallCorpus.finalLoss(launched))
        .isCloseTo(SmallCorpus.finalLoss(inside), org.assertj.core.data.Offset.offset(1e-6));
    assertThat(root.resolve("shared/cria/runs/brown-tiny/checkpoints/step-3")).isDirectory();

    // The same as Kubeflow Trainer v2 runs it: the launcher of the TrainJob's runtime, Trainer's
    // hostfile (its endpoints <trainjob>-node-0-<i>.<trainjob>) and the same Open MPI variables
    List<String> renderTrainJob = new ArrayList<>(render);
    renderTrainJob.set(renderTrainJob.indexOf("brown-tiny"), "brown-tj");
    renderTrainJob.addAll(List.of("--kind", "trainjob"));
    CliRun renderedTrainJob = CliRun.of(renderTrainJob.toArray(String[]::new));
    assertThat(renderedTrainJob.exitCode()).as(renderedTrainJob.err()).isZero();
    String trainJobConfig = null;
    String trainJobLauncher = null;
    for (String doc : renderedTrainJob.out().split("(?m)^---$")) {
      if (doc.isBlank() || doc.strip().startsWith("#") && !doc.contains("kind:")) {
        continue;
      }
      JsonNode o = yaml.readTree(doc);
      if (o.path("kind").asString().equals("ConfigMap")) {
        trainJobConfig = o.path("data").path("config.yaml").asString();
      } else if (o.path("kind").asString().equals("TrainingRuntime")) {
        for (JsonNode r : o.at("/spec/template/spec/replicatedJobs")) {
          if (r.path("name").asString().equals("launcher")) {
            trainJobLauncher =
                r.at("/template/spec/template/spec/containers/0/command/2").asString();
          }
        }
      }
    }
    assertThat(trainJobConfig).contains("run_dir: /shared/cria/runs/brown-tj");
    assertThat(trainJobLauncher)
        .contains("CRIA_MASTER_ADDR=brown-tj-node-0-0.brown-tj.default.svc");
    Files.writeString(root.resolve("etc/cria/config.yaml"), trainJobConfig);
    Files.writeString(
        root.resolve("etc/mpi/hostfile"),
        "brown-tj-node-0-0.brown-tj slots=1\nbrown-tj-node-0-1.brown-tj slots=1\n");
    Files.writeString(
        root.resolve("etc/hosts"),
        "127.0.0.1 localhost\n127.0.0.2 brown-tj-node-0-0.brown-tj"
            + " brown-tj-node-0-0.brown-tj.default.svc\n"
            + "127.0.0.3 brown-tj-node-0-1.brown-tj brown-tj-node-0-1.brown-tj.default.svc\n");
    String trainJobRun =
        run(
            List.of(
                "unshare",
                "--mount",
                "--pid",
                "--net",
                "--fork",
                "sh",
                pod.toString(),
                trainJobLauncher));
    assertThat(trainJobRun).contains("wait-workers: all 2 worker(s) reachable", "done: 3 step(s)");
    assertThat(SmallCorpus.finalLoss(trainJobRun))
        .isCloseTo(SmallCorpus.finalLoss(inside), org.assertj.core.data.Offset.offset(1e-6));
    assertThat(root.resolve("shared/cria/runs/brown-tj/checkpoints/step-3")).isDirectory();
    // back to the MPIJob's pods for what follows
    Files.writeString(
        root.resolve("etc/mpi/hostfile"),
        "brown-tiny-worker-0.brown-tiny.default.svc slots=1\n"
            + "brown-tiny-worker-1.brown-tiny.default.svc slots=1\n");
    Files.writeString(
        root.resolve("etc/hosts"),
        "127.0.0.1 localhost\n127.0.0.2 brown-tiny-worker-0.brown-tiny.default.svc\n"
            + "127.0.0.3 brown-tiny-worker-1.brown-tiny.default.svc\n");

    // a worker killed mid-run ends the job, the rank named, nothing left hanging
    Files.writeString(
        root.resolve("etc/cria/config.yaml"), config.replace("max_steps: 3", "max_steps: 100000"));
    Process job =
        new ProcessBuilder(
                "unshare", "--mount", "--pid", "--net", "--fork", "sh", pod.toString(), launcher)
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("killed.out").toFile())
            .start();
    Path rankLog = root.resolve("shared/cria/runs/brown-tiny/0/log");
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    while (!(Files.exists(rankLog) && Files.readString(rankLog).contains("step 8/"))) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "the job did not reach step 8 in 3 minutes:\n"
                + Files.readString(tmp.resolve("killed.out"))
                + (Files.exists(rankLog) ? "\nrank 0's log:\n" + Files.readString(rankLog) : ""));
      }
      assertThat(job.isAlive()).as(Files.readString(tmp.resolve("killed.out"))).isTrue();
      Thread.sleep(200);
    }
    String pids =
        run(List.of("pgrep", "-f", "dev.cria.cli.Main worker --config /etc/cria/config.yaml"));
    List<String> workers = pids.lines().filter(l -> !l.isBlank()).toList();
    assertThat(workers).hasSize(2);
    run(List.of("kill", "-9", workers.getLast()));
    long killed = System.nanoTime();
    assertThat(job.waitFor(90, TimeUnit.SECONDS)).as("the job ends").isTrue();
    double seconds = (System.nanoTime() - killed) / 1e9;
    String out = Files.readString(tmp.resolve("killed.out"));
    Files.writeString(Path.of("target", "launcher-kill.out"), out); // kept to read
    assertThat(job.exitValue()).as(out).isNotZero();
    assertThat(out).containsPattern("rank \\d+").contains("signal 9");
    // (the [g] keeps the shell that runs pgrep from matching itself)
    String left = "";
    for (int i = 0; i < 50; i++) {
      left =
          run(List.of(
                  "sh",
                  "-c",
                  "pgrep -f 'dev.cria.cli.Main worker --confi[g] /etc/cria/config.yaml' || true"))
              .strip();
      if (left.isEmpty()) {
        break;
      }
      Thread.sleep(200);
    }
    assertThat(left).as("workers left " + seconds + " s after the kill").isEmpty();
  }

  @Test
  void containerToolsReadTheImageAsCriaWroteIt() throws Exception {
    for (String tool : List.of("/usr/bin/skopeo", "/usr/bin/podman")) {
      assumeTrue(
          Files.isExecutable(Path.of(tool)),
          "skipped: " + tool + " is absent (install skopeo and podman; .ci/run does)");
    }
    Path image = tmp.resolve("tools.tar");
    CliRun built = build("scratch", image, tmp.resolve("cache-tools"));
    assertThat(built.exitCode()).as(built.err()).isZero();
    Path oci = unpack(image, tmp.resolve("tools-root")).resolveSibling("tools-root-oci");
    JsonMapper json = JsonMapper.builder().build();
    JsonNode index = json.readTree(oci.resolve("index.json").toFile());
    JsonNode manifest = json.readTree(blob(oci, index.path("manifests").get(0)).toFile());

    // skopeo: the image config as a registry client reads it
    JsonNode config =
        json.readTree(run(List.of("skopeo", "inspect", "--config", "oci-archive:" + image)));
    assertThat(config.path("config").path("Entrypoint").get(0).asString())
        .isEqualTo("/usr/local/bin/cria");
    assertThat(
            config.path("config").path("Labels").path("org.opencontainers.image.title").asString())
        .isEqualTo("cria");
    assertThat(config.path("os").asString()).isEqualTo("linux");
    assertThat(config.path("architecture").asString()).isEqualTo("amd64");
    assertThat(config.path("rootfs").path("diff_ids").size())
        .isEqualTo(manifest.path("layers").size());
    // each layer's history names the tool that made it, with its version
    List<String> madeBy = new ArrayList<>();
    config.path("history").forEach(h -> madeBy.add(h.path("created_by").asString()));
    assertThat(madeBy)
        .isNotEmpty()
        .allMatch(b -> b.equals("cria:" + dev.cria.core.CriaVersion.get()));

    // podman, into a store of this test's own: the image id is the digest of that config
    List<String> podman =
        List.of(
            "podman",
            "--root",
            tmp.resolve("podman-root").toString(),
            "--runroot",
            tmp.resolve("podman-run").toString(),
            "--storage-driver",
            "vfs");
    List<String> load = new ArrayList<>(podman);
    load.addAll(List.of("load", "-i", image.toString()));
    assertThat(run(load)).contains("Loaded image: registry.local/cria:test");
    List<String> inspect = new ArrayList<>(podman);
    inspect.addAll(
        List.of(
            "image",
            "inspect",
            "registry.local/cria:test",
            "--format",
            "{{.Id}} {{index .Config.Entrypoint 0}} {{len .RootFS.Layers}}"));
    assertThat(run(inspect).strip())
        .isEqualTo(
            manifest.path("config").path("digest").asString().substring("sha256:".length())
                + " /usr/local/bin/cria "
                + manifest.path("layers").size());
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
