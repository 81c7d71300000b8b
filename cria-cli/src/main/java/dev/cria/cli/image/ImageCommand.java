package dev.cria.cli.image;

import dev.cria.cli.Main;
import dev.cria.cli.UserError;
import dev.cria.cli.VersionProvider;
import dev.cria.k8s.ImageBuild;
import dev.cria.k8s.K8sException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cria image build}: the image of this cria, built with Jib (no Docker daemon). */
@Command(
    name = "image",
    mixinStandardHelpOptions = true,
    description = "Build the container image a cluster runs cria from (Jib, no Docker daemon).",
    subcommands = {ImageCommand.Build.class})
public final class ImageCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** {@code cria image build}. */
  @Command(
      name = "build",
      mixinStandardHelpOptions = true,
      description = {
        "Build an OCI image of this cria: a jlink'ed Java runtime, cria's jars and classes, and the"
            + " cria launcher, on a base with Open MPI and an ssh server.",
        "",
        "Reproducible: the same inputs give the same digest. tools/make-base-image.sh makes a base"
            + " from Debian's packages.",
        ""
      })
  public static final class Build implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(
        names = "--base",
        paramLabel = "REF|tar:PATH|scratch",
        description =
            "The base image: a registry reference, an image tarball, or scratch (no"
                + " shell: enough for cria --version, not for an MPIJob).")
    String base;

    @Option(
        names = "--tag",
        paramLabel = "NAME",
        description = "The image's name (default: cria:VERSION).")
    String tag;

    @Option(
        names = "--output",
        paramLabel = "FILE",
        description = "Write an OCI image tarball (podman load, skopeo copy oci-archive:FILE).")
    Path output;

    @Option(
        names = "--push",
        paramLabel = "REGISTRY/REPO:TAG",
        description = "Push to a registry instead (credentials as Docker's config has them).")
    String push;

    @Option(
        names = "--insecure-registry",
        description = "Allow a registry over plain HTTP (a test registry on loopback).")
    boolean insecure;

    @Option(
        names = "--cache",
        paramLabel = "DIR",
        description =
            "Where the linked runtime and the layers are kept (default: ~/.cache/cria/image).")
    Path cache;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      String version = VersionProvider.version();
      String name = tag != null ? tag : push != null ? push : "cria:" + version;
      List<Path> classpath = new ArrayList<>();
      for (String entry :
          System.getProperty("java.class.path").split(System.getProperty("path.separator"))) {
        if (!entry.isBlank()) {
          classpath.add(Path.of(entry).toAbsolutePath());
        }
      }
      try {
        ImageBuild.Result r =
            ImageBuild.build(
                new ImageBuild.Request(
                    base,
                    name,
                    output,
                    push,
                    insecure,
                    classpath,
                    Main.class.getName(),
                    cache != null
                        ? cache
                        : Path.of(System.getProperty("user.home"), ".cache", "cria", "image")),
                line -> {
                  out.println("image: " + line);
                  out.flush();
                });
        out.printf(Locale.ROOT, "built %s (%s) in %.1f s%n", name, r.digest(), r.seconds());
        r.layers().forEach(l -> out.println("  " + l));
        out.println(output != null ? "written to " + output : "pushed to " + push);
      } catch (K8sException e) {
        throw new UserError(e.getMessage());
      } catch (IOException e) {
        throw new UserError("the image build failed: " + e.getMessage());
      }
      out.flush();
      return 0;
    }
  }
}
