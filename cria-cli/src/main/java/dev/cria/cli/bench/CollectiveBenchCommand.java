package dev.cria.cli.bench;

import dev.cria.cli.SelfCommand;
import dev.cria.cli.UserError;
import dev.cria.engine.model.GroupTraffic;
import dev.cria.engine.model.LlamaConfig;
import dev.cria.engine.model.ModelSlice;
import dev.cria.engine.model.Precision;
import dev.cria.engine.parallel.CollectiveException;
import dev.cria.train.distributed.CollectiveBenchLauncher;
import dev.cria.train.distributed.CollectiveBenchmark;
import dev.cria.train.distributed.CollectiveKind;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cria bench collective}: latency and bandwidth of each transport's collectives. */
@Command(
    name = "collective",
    mixinStandardHelpOptions = true,
    description = {
      "Time all-reduce, reduce-scatter and all-gather between N ranks on this machine, on each"
          + " transport in the same run: cria's shared memory, cria's TCP ring and Open MPI's own"
          + " collectives (under mpirun, when it is installed).",
      "Per size: the time per operation of the slowest rank, the algorithm bandwidth (bytes /"
          + " time) and the bus bandwidth (x 2(n-1)/n for all-reduce, x (n-1)/n for the others), as"
          + " nccl-tests reports them."
    })
public final class CollectiveBenchCommand implements Callable<Integer> {
  private static final String DEFAULT_SIZES = "4,64,1K,16K,256K,1M,4M,16M,64M";

  @Spec CommandSpec spec;

  @Option(
      names = "--nproc",
      paramLabel = "N",
      defaultValue = "2",
      description = "Ranks (processes) (default: ${DEFAULT-VALUE}).")
  int nproc;

  @Option(
      names = "--collective",
      paramLabel = "KINDS",
      defaultValue = "all",
      split = ",",
      description =
          "Transports, comma-separated: shm, tcp, mpi, or all (shm, tcp, and mpi when mpirun is"
              + " installed) (default: ${DEFAULT-VALUE}).")
  List<String> collectives;

  @Option(
      names = "--sizes",
      paramLabel = "BYTES",
      defaultValue = DEFAULT_SIZES,
      split = ",",
      description = "Buffer sizes, comma-separated: 4, 64K, 16M (default: " + DEFAULT_SIZES + ").")
  List<String> sizes;

  @Option(
      names = "--model",
      paramLabel = "PRESET",
      description =
          "Time the sizes a model of this preset (tiny, small, llama2-7b, ...) sends when split"
              + " over the --nproc ranks by tensor parallelism, and add up one micro-batch's"
              + " collectives per transport (instead of --sizes).")
  String model;

  @Option(
      names = "--micro-batch",
      paramLabel = "B",
      defaultValue = "1",
      description = "With --model: samples per micro-batch (default: ${DEFAULT-VALUE}).")
  int microBatch;

  @Option(
      names = "--seq-len",
      paramLabel = "T",
      description = "With --model: tokens per sample (default: the model's longest).")
  Integer seqLength;

  @Option(
      names = "--sequence-parallel",
      description = "With --model: the residual stream split along the tokens.")
  boolean sequenceParallel;

  @Option(
      names = "--recompute",
      description = "With --model: each layer's forward collectives again in the backward pass.")
  boolean recompute;

  @Option(
      names = "--precision",
      paramLabel = "P",
      defaultValue = "32",
      description = "With --model: 32 or bf16-mixed (default: ${DEFAULT-VALUE}).")
  String precision;

  @Option(names = "--json", description = "Print one JSON object per line instead of a table.")
  boolean json;

  @Option(names = "--worker", hidden = true, description = "A rank of the benchmark.")
  boolean worker;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    GroupTraffic traffic = worker ? null : traffic();
    if (traffic != null) {
      sizes = traffic.sizes().stream().map(String::valueOf).toList();
    }
    List<Long> bytes = new ArrayList<>();
    for (String s : sizes) {
      try {
        bytes.add(CollectiveBenchmark.parseSize(s));
      } catch (IllegalArgumentException e) {
        throw new UserError("--sizes: " + e.getMessage());
      }
    }
    List<CollectiveKind> kinds = kinds();
    try {
      if (worker) {
        CollectiveBenchLauncher.worker(
            kinds.getFirst(),
            bytes,
            line -> {
              out.println(line);
              out.flush();
            });
        return 0;
      }
      List<String> args = new ArrayList<>(List.of("bench", "collective", "--worker", "--sizes"));
      args.add(String.join(",", sizes));
      CollectiveBenchLauncher launcher;
      try {
        launcher = new CollectiveBenchLauncher(SelfCommand.with(args), nproc);
      } catch (IllegalArgumentException e) {
        throw new UserError(e.getMessage());
      }
      if (!json) {
        out.printf(
            Locale.ROOT,
            "collectives between %d ranks on this machine (%d cores); time per operation on the"
                + " slowest rank%n",
            nproc,
            Runtime.getRuntime().availableProcessors());
        out.printf(
            Locale.ROOT,
            "%-5s %-15s %9s %12s %12s %12s%n",
            "with",
            "operation",
            "size",
            "time (us)",
            "algbw GB/s",
            "busbw GB/s");
        out.flush();
      }
      List<String> totals = new ArrayList<>();
      for (CollectiveKind kind : kinds) {
        List<CollectiveBenchmark.Result> measured = new ArrayList<>();
        launcher.run(
            kind,
            r -> {
              measured.add(r);
              if (json) {
                out.println(r.toJson());
              } else {
                out.printf(
                    Locale.ROOT,
                    "%-5s %-15s %9s %12.1f %12.3f %12.3f%n",
                    r.kind(),
                    r.operation(),
                    size(r.bytes()),
                    r.seconds() * 1e6,
                    r.algorithmBandwidth() / 1e9,
                    r.busBandwidth() / 1e9);
              }
              out.flush();
            });
        if (traffic != null && !measured.isEmpty()) {
          totals.add(
              String.format(
                  Locale.ROOT,
                  "  %-5s %.3f ms",
                  measured.getFirst().kind(),
                  CollectiveBenchmark.passSeconds(traffic, measured) * 1e3));
        }
      }
      if (traffic != null && !json) {
        out.printf(
            Locale.ROOT,
            "one micro-batch's pass of %s (%d x %d tokens) split %d ways%s%s: %d collectives on"
                + " %.1f MB in all; their time, as measured above:%n",
            model,
            microBatch,
            seqLength(),
            nproc,
            sequenceParallel ? ", sequence-parallel" : "",
            recompute ? ", recomputed" : "",
            traffic.calls(),
            traffic.bytes() / 1e6);
        totals.forEach(out::println);
      }
      return 0;
    } catch (CollectiveException e) {
      throw new UserError(e.getMessage());
    }
  }

  /** What --model names, or null. */
  private GroupTraffic traffic() {
    if (model == null) {
      return null;
    }
    LlamaConfig shape;
    Precision p;
    try {
      shape = LlamaConfig.preset(model);
    } catch (IllegalArgumentException e) {
      throw new UserError("--model: " + e.getMessage());
    }
    try {
      p = Precision.parse(precision);
    } catch (IllegalArgumentException e) {
      throw new UserError("--precision: " + e.getMessage());
    }
    if (nproc < 2) {
      throw new UserError("--model: tensor parallelism needs --nproc 2 or more");
    }
    try {
      new ModelSlice(nproc, 0).requireFits(shape);
    } catch (IllegalArgumentException e) {
      throw new UserError("--model with --nproc " + nproc + ": " + e.getMessage());
    }
    return GroupTraffic.of(shape, microBatch, seqLength(), nproc, sequenceParallel, recompute, p);
  }

  private int seqLength() {
    return seqLength != null ? seqLength : LlamaConfig.preset(model).maxSeqLen();
  }

  private List<CollectiveKind> kinds() {
    List<CollectiveKind> kinds = new ArrayList<>();
    for (String name : collectives) {
      if (name.strip().equals("all")) {
        kinds.add(CollectiveKind.SHM);
        kinds.add(CollectiveKind.TCP);
        if (worker || CollectiveBenchLauncher.mpirun().isPresent()) {
          kinds.add(CollectiveKind.MPI);
        }
        continue;
      }
      CollectiveKind k;
      try {
        k = CollectiveKind.parse(name);
      } catch (IllegalArgumentException e) {
        k = CollectiveKind.AUTO; // refused below, with the names this command takes
      }
      if (k == CollectiveKind.AUTO) {
        throw new UserError(
            "--collective " + name + ": name the transports to compare (shm, tcp, mpi) or all");
      }
      kinds.add(k);
    }
    return kinds;
  }

  private static String size(long bytes) {
    if (bytes >= 1 << 20 && bytes % (1 << 20) == 0) {
      return (bytes >> 20) + " MiB";
    }
    if (bytes >= 1 << 10 && bytes % (1 << 10) == 0) {
      return (bytes >> 10) + " KiB";
    }
    return bytes + " B";
  }
}
