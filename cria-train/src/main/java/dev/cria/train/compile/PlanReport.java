package dev.cria.train.compile;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/** A {@link MemoryPlan} as people read it (a table) and as programs do (one JSON object). */
public final class PlanReport {
  private static final JsonMapper JSON = JsonMapper.builder().build();

  private PlanReport() {}

  /** {@code bytes} as "98 MB" or "27.0 GB" (decimal units, as the rank logs). */
  public static String size(long bytes) {
    return bytes >= 10_000_000_000L
        ? String.format(Locale.ROOT, "%.1f GB", bytes / 1e9)
        : bytes >= 1_000_000_000L
            ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9)
            : String.format(Locale.ROOT, "%.0f MB", bytes / 1e6);
  }

  /** The first line: the model and the job. */
  public static String headline(MemoryPlan plan) {
    MemoryPlan.Settings s = plan.settings();
    MemoryPlan.Job j = plan.job();
    return String.format(
        Locale.ROOT,
        "memory plan: %s; micro-batch %d x %d tokens%s; %d rank%s (%d on each host), %s",
        s.shape().describe(),
        s.microBatch(),
        s.seqLength(),
        s.recompute() ? ", recomputed" : "",
        j.worldSize(),
        j.worldSize() == 1 ? "" : "s",
        j.ranksPerHost(),
        s.tensorParallel() > 1
            ? "tensor parallelism "
                + s.tensorParallel()
                + (s.sequenceParallel() ? " with sequence parallelism" : "")
            : "ZeRO-" + (j.worldSize() == 1 ? 1 : s.zeroStage()));
  }

  /**
   * The table: a row per kind for rank 0 and, when they hold less, the other ranks; the total; the
   * memory each process has; whether it fits, and if not what would.
   */
  public static List<String> table(MemoryPlan plan) {
    int world = plan.job().worldSize();
    boolean two = world > 1 && plan.total(1) != plan.total(0);
    List<MemoryPlan.Kind> rows = new ArrayList<>();
    int width = 44; // the labels' column: as wide as the longest shown
    for (MemoryPlan.Kind k : MemoryPlan.Kind.values()) {
      if ((k == MemoryPlan.Kind.BF16_COPIES || k == MemoryPlan.Kind.WHOLE_MODEL)
          && plan.bytes(k, 0) == 0) {
        continue; // fp32, or no tensor parallelism: no such row
      }
      rows.add(k);
      width = Math.max(width, (k.label() + note(plan, k)).length());
    }
    String label = "  %-" + width + "s";
    List<String> lines = new ArrayList<>();
    lines.add(headline(plan));
    lines.add(
        String.format(
            Locale.ROOT,
            label + " %12s%s",
            "",
            two ? "rank 0" : "each rank",
            two ? "  other ranks" : ""));
    for (MemoryPlan.Kind k : rows) {
      lines.add(
          String.format(
              Locale.ROOT,
              label + " %12s%s",
              k.label() + note(plan, k),
              size(plan.bytes(k, 0)),
              two ? String.format(Locale.ROOT, "  %11s", size(plan.bytes(k, 1))) : ""));
    }
    lines.add(
        String.format(
            Locale.ROOT,
            label + " %12s%s",
            "total",
            size(plan.total(0)),
            two ? String.format(Locale.ROOT, "  %11s", size(plan.total(1))) : ""));
    lines.add(
        String.format(
            Locale.ROOT,
            label + " %12s  (%s)",
            "memory per process",
            size(plan.job().memoryPerProcess()),
            plan.job().memorySource()));
    if (plan.fits()) {
      lines.add(
          String.format(
              Locale.ROOT,
              "fits: %s of %s per process (%.0f%%)",
              size(plan.largest()),
              size(plan.job().memoryPerProcess()),
              100.0 * plan.largest() / plan.job().memoryPerProcess()));
    } else {
      lines.add(
          "does not fit: a rank needs "
              + size(plan.largest())
              + ", a process has "
              + size(plan.job().memoryPerProcess()));
      for (String w : plan.whatWouldFit()) {
        lines.add(w.startsWith("nothing") || w.startsWith("none") ? "  " + w : "  would fit: " + w);
      }
    }
    return lines;
  }

  /**
   * Why a run is refused, on one line (an error names one thing): what a rank needs by kind, what a
   * process has, and what would fit.
   */
  public static String refusal(MemoryPlan plan) {
    List<String> kinds = new ArrayList<>();
    for (MemoryPlan.Kind k : MemoryPlan.Kind.values()) {
      long b = plan.bytes(k, 0);
      if (b > 0) {
        kinds.add(k.label() + " " + size(b));
      }
    }
    return "a rank of this run needs "
        + size(plan.largest())
        + " ("
        + String.join(", ", kinds)
        + ") but a process has "
        + size(plan.job().memoryPerProcess())
        + " ("
        + plan.job().memorySource()
        + "); "
        + String.join(
            "; ",
            plan.whatWouldFit().stream()
                .map(w -> w.startsWith("nothing") || w.startsWith("none") ? w : "would fit: " + w)
                .toList())
        + " (cria compile shows the table)";
  }

  private static String note(MemoryPlan plan, MemoryPlan.Kind k) {
    MemoryPlan.Settings s = plan.settings();
    int world = plan.job().worldSize();
    int data = plan.dataParallel();
    String which = s.tensorParallel() > 1 ? "its 1/" + s.tensorParallel() + " slice" : "all";
    return switch (k) {
      case PARAMETERS -> {
        boolean sr = s.precision().stochasticRounding(); // bf16 values, stored as fp32
        yield data > 1 && s.zeroStage() == 3
            ? " (ZeRO-3: shards + 2 gather buffers" + (sr ? ", bf16 values in fp32 slots)" : ")")
            : sr
                ? " (bf16 values in fp32 slots, " + which + ")"
                : s.tensorParallel() > 1 ? " (fp32, " + which + ")" : " (fp32, all of them)";
      }
      case GRADIENTS ->
          data > 1 && s.zeroStage() >= 2
              ? " (ZeRO-" + s.zeroStage() + ": shards + 2 buckets)"
              : " (fp32, " + which + ")";
      case OPTIMIZER -> {
        boolean bf16 = s.precision().stochasticRounding(); // bf16-sr stores them in bf16
        yield data > 1
            ? " (ZeRO: this rank's 1/" + data + (bf16 ? ", bf16" : "") + ")"
            : bf16 ? " (bf16, 2 each)" : " (fp32, 2 each)";
      }
      case BF16_COPIES ->
          " ("
              + s.precision()
              + (plan.copiesOneBucket() ? ", the weights one bucket at a time" : "")
              + ")";
      case ACTIVATIONS ->
          s.recompute()
              ? " (recomputed; " + size(plan.activations(false)) + " kept)"
              : " (" + size(plan.activations(true)) + " with --recompute)";
      case COMMUNICATION ->
          world == 1
              ? ""
              : plan.job().ranksPerHost() == 1
                  ? " (TCP)"
                  : world == plan.job().ranksPerHost()
                      ? " (shared memory)"
                      : " (shared memory, TCP)";
      case SNAPSHOT -> s.asyncSave() ? " (async_save)" : " (async_save off)";
      case WHOLE_MODEL -> " (a whole tensor at a time, on rank 0)";
      case INDICES -> " (on the heap, at least)";
      case RUNTIME -> " (JVM, measured)";
    };
  }

  /**
   * The plan as one JSON object: the model and job, per-rank bytes by kind and their total, the
   * memory a process has, whether it fits and what would.
   */
  public static String json(MemoryPlan plan) {
    ObjectNode o = JSON.createObjectNode();
    MemoryPlan.Settings s = plan.settings();
    o.put("parameters", plan.parameters());
    o.put("micro_batch_size", s.microBatch());
    o.put("seq_length", s.seqLength());
    o.put("recompute", s.recompute());
    o.put("zero_stage", s.zeroStage());
    o.put("tensor_parallel", s.tensorParallel());
    o.put("sequence_parallel", s.splitsSequence());
    o.put("world_size", plan.job().worldSize());
    o.put("ranks_per_host", plan.job().ranksPerHost());
    ArrayNode ranks = o.putArray("ranks");
    int shown = Math.min(plan.job().worldSize(), 2); // rank 0, and one of the others (alike)
    for (int r = 0; r < shown; r++) {
      ObjectNode rank = ranks.addObject();
      rank.put(
          "rank",
          r == 0 ? "0" : plan.job().worldSize() > 2 ? "1-" + (plan.job().worldSize() - 1) : "1");
      ObjectNode bytes = rank.putObject("bytes");
      plan.byKind(r).forEach((k, v) -> bytes.put(k.key(), v));
      rank.put("total", plan.total(r));
    }
    o.put("memory_per_process", plan.job().memoryPerProcess());
    o.put("memory_source", plan.job().memorySource());
    o.put("fits", plan.fits());
    ArrayNode would = o.putArray("would_fit");
    plan.whatWouldFit().forEach(would::add);
    return JSON.writeValueAsString(o);
  }
}
