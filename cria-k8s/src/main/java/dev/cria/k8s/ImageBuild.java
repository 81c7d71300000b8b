package dev.cria.k8s;

import com.google.cloud.tools.jib.api.Containerizer;
import com.google.cloud.tools.jib.api.InvalidImageReferenceException;
import com.google.cloud.tools.jib.api.Jib;
import com.google.cloud.tools.jib.api.JibContainer;
import com.google.cloud.tools.jib.api.JibContainerBuilder;
import com.google.cloud.tools.jib.api.LogEvent;
import com.google.cloud.tools.jib.api.RegistryImage;
import com.google.cloud.tools.jib.api.TarImage;
import com.google.cloud.tools.jib.api.buildplan.AbsoluteUnixPath;
import com.google.cloud.tools.jib.api.buildplan.FileEntriesLayer;
import com.google.cloud.tools.jib.api.buildplan.FilePermissions;
import com.google.cloud.tools.jib.api.buildplan.ImageFormat;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * {@code cria image build}: a container image of cria without a Docker daemon, with Jib. Four
 * layers on a base that has what the MPI Operator needs in a pod (Open MPI, an ssh server and
 * client): a jlink'ed Java runtime with cria's modules ({@code /opt/cria/java}), the libraries
 * ({@code /opt/cria/lib}), cria's own classes, and the {@code cria} launcher on the {@code PATH}.
 * Reproducible: files carry a fixed time and the image the epoch as its creation time, so the same
 * inputs give the same digest.
 */
public final class ImageBuild {
  /** Where cria lives in the image. */
  public static final String HOME = "/opt/cria";

  /** The launcher, on the base image's PATH. */
  public static final String LAUNCHER = "/usr/local/bin/cria";

  /**
   * What to build.
   *
   * @param base {@code scratch}, {@code tar:PATH} (an image tarball, Docker or OCI), or a registry
   *     reference
   * @param tag the image's name, e.g. {@code registry.example.com/cria:0.1.0}
   * @param output write an OCI image tarball here, or null
   * @param push push to this registry reference instead, or null
   * @param insecure allow a registry over plain HTTP (a registry on loopback)
   * @param classpath the jars and class directories of cria, in order
   * @param mainClass cria's entry point
   * @param cache where the linked runtime and Jib's layer caches are kept
   */
  public record Request(
      String base,
      String tag,
      Path output,
      String push,
      boolean insecure,
      List<Path> classpath,
      String mainClass,
      Path cache) {
    public Request {
      if ((output == null) == (push == null)) {
        throw new K8sException("give --output FILE or --push REGISTRY/REPO:TAG (one of them)");
      }
      if (base == null || base.isBlank()) {
        throw new K8sException(
            "--base is required: an image with Open MPI and an ssh server (tools/make-base-image.sh"
                + " makes one from Debian's packages), tar:PATH for a tarball, or scratch");
      }
      if (base.startsWith("tar:")) {
        requireBaseTarball(base);
      }
      if (cache != null && Files.exists(cache) && !Files.isDirectory(cache)) {
        throw new K8sException(
            "--cache "
                + cache
                + " is a file: give a directory (where the linked Java runtime and Jib's layers are"
                + " kept between builds)");
      }
      if (output != null) {
        requireReplaceable(output);
      }
      try {
        ClusterJob.requireImage(output != null ? "--tag" : "--push", output != null ? tag : push);
      } catch (IllegalArgumentException e) {
        throw new K8sException(e.getMessage());
      }
      classpath = List.copyOf(classpath);
    }
  }

  /** Refuses a {@code tar:PATH} base that is missing or is not an (uncompressed) image tarball. */
  private static void requireBaseTarball(String base) {
    Path tar = Path.of(base.substring("tar:".length()));
    if (!Files.isRegularFile(tar)) {
      throw new K8sException("--base " + base + ": no such image tarball");
    }
    if (!isImageTarball(tar)) {
      throw new K8sException(
          "--base "
              + base
              + " is not an image tarball: an uncompressed tar with manifest.json, index.json or"
              + " oci-layout at its top, as docker save, podman save and"
              + " tools/make-base-image.sh write");
    }
  }

  /**
   * Refuses an {@code --output} the build would lose something by replacing: a directory, or a file
   * that is not an image tarball (an earlier build's is replaced, as a rebuild does).
   */
  static void requireReplaceable(Path output) {
    if (output.toString().isBlank()) {
      throw new K8sException("--output is empty: give the path of the image tarball to write");
    }
    if (Files.isDirectory(output)) {
      throw new K8sException(
          "--output " + output + " is a directory: give the path of a file, such as DIR/cria.tar");
    }
    if (Files.exists(output) && !isImageTarball(output)) {
      throw new K8sException(
          "--output "
              + output
              + " exists and is not an image tarball: give another path (an earlier image"
              + " tarball is replaced, any other file is left alone)");
    }
  }

  /**
   * Whether {@code file} is a tar archive holding an image's top-level {@code oci-layout}, {@code
   * index.json} or {@code manifest.json}, as OCI and Docker image tarballs do.
   */
  static boolean isImageTarball(Path file) {
    try (var in =
        new java.io.DataInputStream(new java.io.BufferedInputStream(Files.newInputStream(file)))) {
      byte[] header = new byte[512];
      for (int entries = 0; entries < 10_000; entries++) {
        in.readFully(header);
        if (!"ustar"
            .equals(new String(header, 257, 5, java.nio.charset.StandardCharsets.US_ASCII))) {
          return false; // not a tar header (or the archive's end)
        }
        String name =
            new String(header, 0, 100, java.nio.charset.StandardCharsets.UTF_8)
                .replace("\0", "")
                .replaceFirst("^\\./", "");
        if (List.of("oci-layout", "index.json", "manifest.json").contains(name)) {
          return true;
        }
        String size =
            new String(header, 124, 12, java.nio.charset.StandardCharsets.US_ASCII)
                .replace("\0", "")
                .strip();
        long bytes = size.isEmpty() ? 0 : Long.parseLong(size, 8);
        in.skipNBytes((bytes + 511) / 512 * 512);
      }
      return false;
    } catch (IOException | RuntimeException e) {
      return false; // short, unreadable or not a tar: not an image tarball
    }
  }

  /**
   * What was built.
   *
   * @param digest the image manifest's digest ({@code sha256:...})
   * @param layers a line per layer of cria's: name and size
   * @param seconds how long the build took
   */
  public record Result(String digest, String imageId, List<String> layers, double seconds) {}

  private ImageBuild() {}

  /** Builds the image; {@code progress} hears each step. */
  public static Result build(Request r, Consumer<String> progress) throws IOException {
    long t0 = System.nanoTime();
    Path runtime = JavaRuntime.linked(r.cache().resolve("jlink"), JavaRuntime.MODULES, progress);
    List<Path> jars = new ArrayList<>();
    List<Path> classDirs = new ArrayList<>();
    for (Path p : r.classpath()) {
      if (Files.isDirectory(p)) {
        classDirs.add(p);
      } else if (Files.isRegularFile(p) && p.toString().endsWith(".jar")) {
        jars.add(p);
      }
    }
    FileEntriesLayer.Builder lib = FileEntriesLayer.builder().setName("libraries");
    Set<String> names = new HashSet<>();
    List<String> cp = new ArrayList<>();
    for (int i = 0; i < jars.size(); i++) {
      String name = jars.get(i).getFileName().toString();
      if (!names.add(name)) {
        name = i + "-" + name; // two jars of one name from different groups
      }
      lib.addEntry(
          jars.get(i),
          AbsoluteUnixPath.get(HOME + "/lib/" + name),
          FilePermissions.fromOctalString("644"));
      cp.add(HOME + "/lib/" + name);
    }
    FileEntriesLayer.Builder classes = FileEntriesLayer.builder().setName("classes");
    for (int i = 0; i < classDirs.size(); i++) {
      String target = HOME + "/classes/" + i;
      classes.addEntryRecursive(classDirs.get(i), AbsoluteUnixPath.get(target));
      cp.add(target);
    }
    Path script = Files.createTempFile("cria-launcher", ".sh");
    try {
      Files.writeString(script, launcher(cp, r.mainClass()), StandardCharsets.UTF_8);
      FileEntriesLayer java =
          FileEntriesLayer.builder()
              .setName("java runtime")
              .addEntryRecursive(
                  runtime,
                  AbsoluteUnixPath.get(HOME + "/java"),
                  (source, destination) ->
                      FilePermissions.fromOctalString(
                          Files.isDirectory(source) || Files.isExecutable(source) ? "755" : "644"))
              .build();
      FileEntriesLayer launcher =
          FileEntriesLayer.builder()
              .setName("launcher")
              .addEntry(
                  script, AbsoluteUnixPath.get(LAUNCHER), FilePermissions.fromOctalString("755"))
              .build();
      JibContainerBuilder image =
          from(r.base())
              .setFormat(ImageFormat.OCI)
              .setCreationTime(Instant.EPOCH)
              .setFileEntriesLayers(java, lib.build(), classes.build(), launcher)
              .setEntrypoint(LAUNCHER)
              .addLabel("org.opencontainers.image.title", "cria")
              .addLabel(
                  "org.opencontainers.image.description",
                  "cria: Llama pretraining in Java, with Open MPI for the Kubeflow MPI Operator");
      Containerizer to =
          containerizer(r)
              .setToolName("cria")
              .setToolVersion(dev.cria.core.CriaVersion.get())
              .setBaseImageLayersCache(r.cache().resolve("jib-base"))
              .setApplicationLayersCache(r.cache().resolve("jib-app"))
              .addEventHandler(
                  LogEvent.class,
                  e -> {
                    if (e.getLevel() == LogEvent.Level.LIFECYCLE
                        || e.getLevel() == LogEvent.Level.ERROR) {
                      progress.accept(e.getMessage());
                    }
                  });
      openMpi(r.base(), progress).ifPresent(v -> image.addLabel(OPEN_MPI_LABEL, v));
      progress.accept("building " + r.tag() + " on " + r.base() + " ...");
      JibContainer built = image.containerize(to);
      List<String> layers =
          List.of(
              "java runtime "
                  + mb(size(runtime))
                  + " ("
                  + HOME
                  + "/java, jlink: "
                  + JavaRuntime.MODULES.size()
                  + " modules)",
              "libraries "
                  + mb(jars.stream().mapToLong(ImageBuild::size).sum())
                  + " ("
                  + jars.size()
                  + " jars in "
                  + HOME
                  + "/lib)",
              "classes "
                  + mb(classDirs.stream().mapToLong(ImageBuild::size).sum())
                  + " ("
                  + classDirs.size()
                  + " directories)",
              "launcher " + LAUNCHER);
      return new Result(
          built.getDigest().toString(),
          built.getImageId().toString(),
          layers,
          (System.nanoTime() - t0) / 1e9);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new K8sException("interrupted while building the image");
    } catch (java.util.concurrent.ExecutionException
        | com.google.cloud.tools.jib.api.RegistryException
        | com.google.cloud.tools.jib.api.CacheDirectoryCreationException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new K8sException("the image build failed: " + cause.getMessage(), e);
    } finally {
      Files.deleteIfExists(script);
    }
  }

  /** The launcher script: the image's Java with cria's flags and class path. */
  static String launcher(List<String> classpath, String mainClass) {
    return "#!/bin/sh\n"
        + "# cria's launcher, written by cria image build\n"
        + "gc=-XX:+UseSerialGC\n"
        + "for opt in $CRIA_JAVA_OPTS; do case \"$opt\" in -XX:+Use*GC) gc= ;; esac; done\n"
        + "exec "
        + HOME
        + "/java/bin/java --add-modules jdk.incubator.vector"
        + " --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow"
        + " $gc -Xmn64m $CRIA_JAVA_OPTS -cp '"
        + String.join(":", classpath)
        + "' "
        + mainClass
        + " \"$@\"\n";
  }

  /** The label that names the Open MPI (Debian's openmpi-bin version) the image carries. */
  public static final String OPEN_MPI_LABEL = "dev.cria.openmpi";

  /**
   * The Open MPI of a {@code tar:} base, from its dpkg status, told to {@code progress}; empty (and
   * said) when the base is a registry's, scratch, or has no openmpi-bin.
   */
  private static java.util.Optional<String> openMpi(String base, Consumer<String> progress)
      throws IOException {
    if (!base.startsWith("tar:")) {
      progress.accept(
          "base "
              + base
              + ": its Open MPI is not read (only a tar: base's is): no "
              + OPEN_MPI_LABEL
              + " label");
      return java.util.Optional.empty();
    }
    java.util.Optional<String> v;
    try {
      v = BasePackages.version(Path.of(base.substring(4)), "openmpi-bin");
    } catch (IOException | RuntimeException e) {
      progress.accept(
          "base "
              + base
              + ": its packages could not be read ("
              + e.getMessage()
              + "): no "
              + OPEN_MPI_LABEL
              + " label");
      return java.util.Optional.empty();
    }
    if (v.isEmpty()) {
      progress.accept(
          "base " + base + ": no openmpi-bin installed (dpkg): the workers need mpirun");
    } else {
      progress.accept(
          "base: Open MPI " + v.get() + " (Debian's openmpi-bin), label " + OPEN_MPI_LABEL);
      if (v.get().matches("(\\d+:)?[5-9]\\..*")) {
        progress.accept(
            "warning: Open MPI 5 and later ignore the operators' OMPI_MCA_orte_* variables;"
                + " cria's workers refuse to start all on the launcher (see README section 8)");
      }
    }
    return v;
  }

  private static JibContainerBuilder from(String base) throws IOException {
    if (base.equals("scratch")) {
      return Jib.fromScratch();
    }
    if (base.startsWith("tar:")) {
      return Jib.from(TarImage.at(Path.of(base.substring(4)))); // checked by the request
    }
    try {
      return Jib.from(withDockerCredentials(base));
    } catch (InvalidImageReferenceException e) {
      throw new K8sException("--base " + base + ": not an image reference");
    }
  }

  private static Containerizer containerizer(Request r) {
    try {
      if (r.output() != null) {
        Files.createDirectories(r.output().toAbsolutePath().getParent());
        return Containerizer.to(TarImage.at(r.output()).named(r.tag()))
            .setOfflineMode(!isRegistry(r.base()));
      }
      return Containerizer.to(withDockerCredentials(r.push()))
          .setAllowInsecureRegistries(r.insecure());
    } catch (InvalidImageReferenceException e) {
      throw new K8sException("not an image reference: " + e.getMessage());
    } catch (IOException e) {
      throw new K8sException(r.output() + ": cannot write: " + e.getMessage());
    }
  }

  /**
   * A registry image with the credentials Docker's config ({@code ~/.docker/config.json}) and its
   * credential helpers hold for its registry, as {@code docker push} would use them.
   */
  private static RegistryImage withDockerCredentials(String reference)
      throws InvalidImageReferenceException {
    com.google.cloud.tools.jib.api.ImageReference ref =
        com.google.cloud.tools.jib.api.ImageReference.parse(reference);
    com.google.cloud.tools.jib.frontend.CredentialRetrieverFactory credentials =
        com.google.cloud.tools.jib.frontend.CredentialRetrieverFactory.forImage(ref, e -> {});
    return RegistryImage.named(ref)
        .addCredentialRetriever(credentials.dockerConfig())
        .addCredentialRetriever(credentials.wellKnownCredentialHelpers());
  }

  private static boolean isRegistry(String base) {
    return !base.equals("scratch") && !base.startsWith("tar:");
  }

  private static long size(Path p) {
    try (var files = Files.walk(p)) {
      return files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
    } catch (IOException e) {
      return 0;
    }
  }

  private static String mb(long bytes) {
    return String.format(java.util.Locale.ROOT, "%.1f MB", bytes / 1e6);
  }
}
