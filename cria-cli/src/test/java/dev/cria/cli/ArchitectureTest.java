package dev.cria.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The rules of {@code ../shared/DESIGN.md} that keep the house easy to change, checked over the
 * imports of every module's sources: dependencies point one way (cli to train, train to engine and
 * data, those to core), the engine never imports data, backends are reached only through the seam,
 * nothing above the backends touches host memory, the engine holds the collectives' contract but
 * none of their transports, the CLI holds no file or JSON code of its own, every package says what
 * it is for, tests mirror packages, and a long file says why.
 */
class ArchitectureTest {
  private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  private static final Pattern QUALIFIED =
      Pattern.compile("\\b((?:dev|java|tools|jdk)\\.[a-z]\\w*(?:\\.[a-z]\\w*)*\\.[A-Z]\\w*)");
  private static final Pattern IMPORT =
      Pattern.compile("^import (?:static )?([\\w.]+)(?:\\.\\*)?;", Pattern.MULTILINE);

  /** Which cria modules each module's main code may import (besides its own). */
  private static final Map<String, List<String>> ALLOWED =
      Map.of(
          "cria-core", List.of(),
          "cria-data", List.of("core"),
          "cria-engine", List.of("core"),
          "cria-onednn", List.of("engine"),
          "cria-train", List.of("core", "data", "engine"),
          "cria-board", List.of("core"),
          "cria-k8s", List.of("core"),
          "cria-cli", List.of("core", "data", "engine", "train", "board", "k8s"),
          "cria-bench", List.of("core", "data", "engine"));

  record Source(String module, Path file, String packageName, List<String> imports, String text) {}

  private static List<Source> sources(String kind) {
    List<Source> out = new ArrayList<>();
    for (String module : ALLOWED.keySet()) {
      Path dir = ROOT.resolve(module).resolve("src").resolve(kind).resolve("java");
      if (!Files.isDirectory(dir)) {
        continue;
      }
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
          String text = Files.readString(f);
          Matcher pkg = Pattern.compile("^package ([\\w.]+);", Pattern.MULTILINE).matcher(text);
          List<String> imports = new ArrayList<>();
          Matcher m = IMPORT.matcher(text);
          while (m.find()) {
            imports.add(m.group(1));
          }
          // fully qualified names in the code count as imports too
          String code =
              text.replaceAll("(?s)/\\*.*?\\*/", "")
                  .replaceAll("//[^\n]*", "")
                  .replaceAll("(?m)^(import|package) .*$", "");
          Matcher q = QUALIFIED.matcher(code);
          while (q.find()) {
            imports.add(q.group(1));
          }
          out.add(new Source(module, f, pkg.find() ? pkg.group(1) : "", imports, text));
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return out;
  }

  @Test
  void everyModuleOfTheBuildIsChecked() throws IOException {
    Matcher m =
        Pattern.compile("<module>([\\w-]+)</module>")
            .matcher(Files.readString(ROOT.resolve("pom.xml")));
    List<String> modules = new ArrayList<>();
    while (m.find()) {
      modules.add(m.group(1));
    }
    assertThat(modules).containsExactlyInAnyOrderElementsOf(ALLOWED.keySet());
  }

  @Test
  void theSourcesAreFound() {
    assertThat(sources("main")).hasSizeGreaterThan(150);
    assertThat(sources("main").stream().map(Source::module).distinct()).hasSize(ALLOWED.size());
  }

  @Test
  void dependenciesPointOneWayAndNothingDependsOnTheCli() {
    List<String> wrong = new ArrayList<>();
    for (Source s : sources("main")) {
      String own = s.module().substring("cria-".length());
      for (String i : s.imports()) {
        if (!i.startsWith("dev.cria.")) {
          continue;
        }
        String target = i.split("\\.")[2];
        if (!target.equals(own) && !ALLOWED.get(s.module()).contains(target)) {
          wrong.add(s.file().getFileName() + " (" + s.module() + ") imports " + i);
        }
      }
    }
    assertThat(wrong).as("imports against the module rules").isEmpty();
  }

  @Test
  void theEngineNeverImportsTheDataModule() {
    assertThat(
            sources("main").stream()
                .filter(s -> s.module().equals("cria-engine"))
                .flatMap(s ->
                    s.imports().stream()
                        .filter(i -> i.startsWith("dev.cria.data"))
                        .map(i -> s.file() + ": " + i)))
        .isEmpty();
  }

  @Test
  void backendsAreReachedOnlyThroughTheSeam() {
    List<String> wrong = new ArrayList<>();
    for (Source s : sources("main")) {
      if (s.module().equals("cria-bench")) {
        continue; // microbenchmarks of the CPU kernels themselves (GEMM, attention, the FMA peak)
      }
      for (String impl : List.of("dev.cria.engine.cpu", "dev.cria.engine.reference")) {
        if (!s.packageName().equals(impl)
            && s.imports().stream().anyMatch(i -> i.startsWith(impl + "."))) {
          wrong.add(s.file().getFileName() + " imports " + impl);
        }
      }
      // the host collectives (TCP ring, shared memory) add what peers send in host memory
      boolean hostReduction = s.file().getFileName().toString().equals("HostSum.java");
      if (s.imports().stream().anyMatch(i -> i.startsWith("jdk.incubator.vector"))
          && !s.packageName().equals("dev.cria.engine.cpu")
          && !hostReduction) {
        wrong.add(s.file().getFileName() + " uses the Vector API outside the cpu backend");
      }
    }
    assertThat(wrong).isEmpty();
  }

  @Test
  void theEngineHoldsTheCollectivesContractButNoTransport() {
    // the model may call a collective inside a layer; sockets, shared mappings and native
    // libraries (Open MPI) stay with the transports in cria-train
    List<Source> parallel =
        sources("main").stream()
            .filter(s -> s.packageName().equals("dev.cria.engine.parallel"))
            .toList();
    assertThat(parallel)
        .anyMatch(s -> s.module().equals("cria-engine") && s.file().endsWith("Collective.java"));
    List<String> wrong = new ArrayList<>();
    for (Source s : parallel) {
      for (String i : s.imports()) {
        if (i.startsWith("java.net")
            || i.startsWith("java.nio.channels")
            || i.startsWith("java.lang.foreign.Linker")
            || i.startsWith("java.lang.foreign.SymbolLookup")) {
          wrong.add(s.file().getFileName() + " imports " + i);
        }
      }
    }
    assertThat(wrong).isEmpty();
  }

  /**
   * The packages above the backends: the model, the optimizer, the decoder, the parallel layers,
   * and the trainer with its plan and metrics. They reach memory through {@code Buffers} and {@code
   * Kernels} only, so that a backend whose buffers are not host memory changes nothing above it.
   * The host layers stay out: the seam itself ({@code tensor}, {@code backend}), the backends, the
   * file formats ({@code io}), the checkpoints and the transports.
   */
  private static final List<String> ABOVE_THE_BACKENDS =
      List.of(
          "dev.cria.engine.model",
          "dev.cria.engine.optim",
          "dev.cria.engine.infer",
          "dev.cria.engine.parallel",
          "dev.cria.train",
          "dev.cria.train.compile",
          "dev.cria.train.metrics",
          "dev.cria.train.config");

  /**
   * Host memory's marks: its API, the size of a float, a buffer's or a view's host segment (called
   * or referenced), the host backends' reader of ids, floats made by hand.
   */
  private static final Pattern HOST_MEMORY =
      Pattern.compile(
          "java\\.lang\\.foreign|\\bFloat\\.BYTES\\b|\\bBf16\\.BYTES\\b|\\.segment\\(\\)|\\.buffer\\(\\)"
              + "|::(?:segment|buffer)\\b|\\bHostBuffers\\.ids\\b|\\bFloats\\.(?:wrap|allocate|of)\\(");

  @Test
  void aboveTheBackendsNothingTouchesHostMemory() {
    List<String> wrong = new ArrayList<>();
    List<String> checked = new ArrayList<>();
    for (Source s : sources("main")) {
      String name = s.file().getFileName().toString();
      // the collectives' contract and its one-rank group: the transports move host memory
      boolean collectiveContract =
          s.packageName().equals("dev.cria.engine.parallel")
              && (name.equals("Collective.java") || name.equals("SingleRank.java"));
      if (!ABOVE_THE_BACKENDS.contains(s.packageName()) || collectiveContract) {
        continue;
      }
      checked.add(name);
      String code = s.text().replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "");
      Matcher m = HOST_MEMORY.matcher(code);
      while (m.find()) {
        wrong.add(name + " (" + s.packageName() + "): " + m.group());
      }
    }
    assertThat(checked)
        .contains("LlamaModel.java", "AdamW.java", "LlamaDecoder.java", "Trainer.java");
    assertThat(wrong).as("host memory above the backends").isEmpty();
  }

  @Test
  void theCliHoldsNoFileOrJsonCodeOfItsOwn() {
    List<String> wrong = new ArrayList<>();
    for (Source s : sources("main")) {
      if (!s.module().equals("cria-cli")) {
        continue;
      }
      for (String i : s.imports()) {
        if (i.startsWith("tools.jackson")
            || i.startsWith("java.nio.file.Files")
            || i.startsWith("java.io.File")
            || i.startsWith("java.nio.channels")
            || i.startsWith("dev.cria.core.io")) {
          wrong.add(s.file().getFileName() + " imports " + i);
        }
      }
    }
    assertThat(wrong).isEmpty();
  }

  @Test
  void theKubernetesClientLivesOnlyInTheK8sModule() {
    List<String> wrong = new ArrayList<>();
    for (Source s : sources("main")) {
      if (s.module().equals("cria-k8s")) {
        continue;
      }
      for (String i : s.imports()) {
        if (i.startsWith("io.fabric8")) {
          wrong.add(s.file().getFileName() + " imports " + i);
        }
      }
      if (s.text().contains("io.fabric8.")) {
        wrong.add(s.file().getFileName() + " names io.fabric8");
      }
    }
    assertThat(wrong).isEmpty();
  }

  @Test
  void everyPackageSaysWhatItIsFor() {
    List<String> missing =
        sources("main").stream()
            .map(s -> s.file().getParent())
            .distinct()
            .filter(dir -> !Files.isRegularFile(dir.resolve("package-info.java")))
            .map(dir -> ROOT.relativize(dir).toString())
            .toList();
    assertThat(missing).isEmpty();
  }

  @Test
  void testsMirrorThePackagesTheyTest() {
    List<String> stray =
        sources("test").stream()
            .map(s -> s.module() + ": " + s.packageName())
            .distinct()
            .filter(p ->
                sources("main").stream()
                    .noneMatch(m -> (m.module() + ": " + m.packageName()).equals(p)))
            .toList();
    assertThat(stray).isEmpty();
  }

  @Test
  void aFileLongerThan600LinesSaysWhyInItsHeader() {
    List<String> silent = new ArrayList<>();
    for (Source s : sources("main")) {
      long lines = s.text().lines().count();
      Matcher declaration =
          Pattern.compile(
                  "(?m)^(?:public |final |abstract |sealed )*(?:class|interface|record|enum) ")
              .matcher(s.text());
      int header = declaration.find() ? declaration.start() : 0;
      if (lines > 600 && !s.text().substring(0, header).contains("This file is long because")) {
        silent.add(s.file().getFileName() + " (" + lines + " lines)");
      }
    }
    assertThat(silent).isEmpty();
  }
}
